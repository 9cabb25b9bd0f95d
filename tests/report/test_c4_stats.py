"""C4 statistics report: funnel per variant and sizes beside Table 8, read from merged per-variant stats CSVs."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from t5repro import config
from t5repro.c4.stats_csv import merge_stats, read_rows, totals
from t5repro.config import ConfigError
from t5repro.report import c4_stats, tables

PAPER_DIR = (Path(os.environ["T5REPRO_DATA"]).parent if os.environ.get("T5REPRO_DATA")
             else Path(__file__).resolve().parents[3] / "shared") / "paper"
HEADER = "variant,shard,step,counter,value\n"


def _shard(variant: str, shard: int, steps: list[tuple[str, dict[str, int]]]) -> str:
    return "".join(f"{variant},{shard},{step},{counter},{value}\n"
                   for step, counters in steps for counter, value in counters.items())


# Hand-written shards: two per variant. Totals (both shards) are spelled out in the tests below.
EN = [
    _shard("en", 0, [
        ("parse", {"pages_in": 110, "pages_out": 100, "dropped/page-invalid": 10, "bytes_out": 50000,
                   "wet_files": 2, "wet_files_skipped": 0, "wet_gz_bytes": 30000}),
        ("length", {"pages_in": 100, "pages_out": 99, "dropped/filtered-page-toolong": 1, "bytes_out": 48000}),
        ("url_dedup", {"pages_in": 99, "pages_out": 90, "dropped/filtered-url-duplicate": 9, "bytes_out": 44000}),
        ("clean", {"pages_in": 90, "pages_out": 40, "dropped/filtered-page-toofewsentences": 30,
                   "dropped/filtered-page-badword": 12, "dropped/filtered-page-squigglybracket": 6,
                   "dropped/filtered-page-loremipsum": 2, "lines/lines-no-endmark": 700, "bytes_out": 16000}),
        ("dedup", {"pages_in": 40, "pages_out": 38, "dropped/filtered-page-toofewsentences": 2, "bytes_out": 15000}),
        ("langid", {"pages_in": 38, "pages_out": 35, "dropped/filtered-page-nonenglish": 3, "lang/en": 36,
                    "lang/de": 2, "bytes_out": 14000}),
        ("split", {"pages_in": 35, "pages_out": 35, "pages_out/train": 34, "pages_out/validation": 1,
                   "bytes_out": 14000, "bytes_out/train": 13600, "bytes_out/validation": 400}),
    ]),
    _shard("en", 1, [
        ("parse", {"pages_in": 105, "pages_out": 100, "dropped/page-invalid": 5, "bytes_out": 52000,
                   "wet_files": 2, "wet_files_skipped": 1, "wet_gz_bytes": 31000}),
        ("length", {"pages_in": 100, "pages_out": 100, "dropped/filtered-page-toolong": 0, "bytes_out": 52000}),
        ("url_dedup", {"pages_in": 100, "pages_out": 92, "dropped/filtered-url-duplicate": 8, "bytes_out": 47000}),
        ("clean", {"pages_in": 92, "pages_out": 44, "dropped/filtered-page-toofewsentences": 28,
                   "dropped/filtered-page-badword": 10, "dropped/filtered-page-squigglybracket": 8,
                   "dropped/filtered-page-loremipsum": 2, "lines/lines-no-endmark": 650, "bytes_out": 17000}),
        ("dedup", {"pages_in": 44, "pages_out": 41, "dropped/filtered-page-toofewsentences": 3, "bytes_out": 16000}),
        ("langid", {"pages_in": 41, "pages_out": 39, "dropped/filtered-page-nonenglish": 2, "lang/en": 39,
                    "lang/fr": 2, "bytes_out": 15000}),
        ("split", {"pages_in": 39, "pages_out": 39, "pages_out/train": 39, "pages_out/validation": 0,
                   "bytes_out": 15000, "bytes_out/train": 15000, "bytes_out/validation": 0}),
    ]),
]
NOCLEAN = [
    _shard("en.noclean", 0, [
        ("parse", {"pages_in": 110, "pages_out": 100, "dropped/page-invalid": 10, "bytes_out": 50000,
                   "wet_files": 2}),  # wet_files_skipped absent: none skipped
        ("length", {"pages_in": 100, "pages_out": 99, "dropped/filtered-page-toolong": 1, "bytes_out": 48000}),
        ("url_dedup", {"pages_in": 99, "pages_out": 90, "dropped/filtered-url-duplicate": 9, "bytes_out": 44000}),
        ("langid", {"pages_in": 90, "pages_out": 80, "dropped/filtered-page-nonenglish": 10, "lang/en": 82,
                    "lang/de": 5, "lang/fr": 3, "bytes_out": 40000}),
        ("split", {"pages_in": 80, "pages_out": 80, "pages_out/train": 80, "pages_out/validation": 0,
                   "bytes_out": 40000, "bytes_out/train": 40000, "bytes_out/validation": 0}),
    ]),
    _shard("en.noclean", 1, [
        ("parse", {"pages_in": 105, "pages_out": 100, "dropped/page-invalid": 5, "bytes_out": 52000,
                   "wet_files": 2}),
        ("length", {"pages_in": 100, "pages_out": 100, "dropped/filtered-page-toolong": 0, "bytes_out": 52000}),
        ("url_dedup", {"pages_in": 100, "pages_out": 92, "dropped/filtered-url-duplicate": 8, "bytes_out": 47000}),
        ("langid", {"pages_in": 92, "pages_out": 85, "dropped/filtered-page-nonenglish": 7, "lang/en": 86,
                    "lang/ro": 4, "lang/ja": 2, "bytes_out": 42000}),
        ("split", {"pages_in": 85, "pages_out": 85, "pages_out/train": 84, "pages_out/validation": 1,
                   "bytes_out": 42000, "bytes_out/train": 41500, "bytes_out/validation": 500}),
    ]),
]


def build_c4_root(root: Path, variants: dict[str, list[str]]) -> Path:
    """Per-shard CSVs merged (as the C4 stage does) into `<root>/<variant>/stats.csv`."""
    for variant, shards in variants.items():
        paths = []
        for i, body in enumerate(shards):
            path = root / variant / "shards" / f"stats-{i:05d}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(HEADER + body, encoding="utf-8")
            paths.append(path)
        merge_stats(paths, root / variant / "stats.csv")
    return root


def _cfg(c4_root, reports_dir, *, scale="smoke", paper_dir=PAPER_DIR):
    """Through conf/config.yaml when it has io.c4_root; until then a DictConfig with the same keys."""
    io = {"c4_root": str(c4_root), "reports_dir": str(reports_dir), "paper_dir": str(paper_dir)}
    if "c4_root" in config.load().io:
        return config.load([f"scale={scale}", "report.table=c4_stats", *(f"io.{k}={v}" for k, v in io.items())])
    return OmegaConf.create({"stage": "report", "scale_name": scale, "report": {"table": "c4_stats"},
                             "io": {**io, "results_dir": None, "data_dir": None}})


def _paper_sizes() -> dict[str, str]:
    with (PAPER_DIR / "table08_pretraining_datasets.csv").open(newline="") as f:
        return {r["label"]: r["size"] for r in csv.DictReader(f)}


@pytest.fixture()
def c4_root(tmp_path) -> Path:
    return build_c4_root(tmp_path / "c4", {"en": EN, "en.noclean": NOCLEAN})


@pytest.fixture()
def report(c4_root, tmp_path):
    reports = tmp_path / "reports"
    tables.run(_cfg(c4_root, reports))  # through the report stage's registry
    with (reports / "c4_stats.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return reports, rows


def test_funnel_rows(report):
    _, rows = report
    funnel = [r for r in rows if r["section"] == "funnel"]
    got = [(r["variant"], r["step"], int(r["pages_in"]), int(r["pages_out"]), r["pct_of_parsed_pages"],
            int(r["bytes_out"])) for r in funnel]
    assert got == [
        ("en", "parse", 215, 200, "100.0000", 102000),
        ("en", "length", 200, 199, "99.5000", 100000),
        ("en", "url_dedup", 199, 182, "91.0000", 91000),
        ("en", "clean", 182, 84, "42.0000", 33000),
        ("en", "dedup", 84, 79, "39.5000", 31000),
        ("en", "langid", 79, 74, "37.0000", 29000),
        ("en", "split", 74, 74, "37.0000", 29000),
        ("en.noclean", "parse", 215, 200, "100.0000", 102000),
        ("en.noclean", "length", 200, 199, "99.5000", 100000),
        ("en.noclean", "url_dedup", 199, 182, "91.0000", 91000),
        ("en.noclean", "langid", 182, 165, "82.5000", 82000),
        ("en.noclean", "split", 165, 165, "82.5000", 82000),
    ]
    clean = next(r for r in funnel if r["variant"] == "en" and r["step"] == "clean")
    assert clean["top_drop_reasons"] == ("filtered-page-toofewsentences=58;filtered-page-badword=22;"
                                         "filtered-page-squigglybracket=14")  # loremipsum (4) is 4th
    length = next(r for r in funnel if r["variant"] == "en" and r["step"] == "length")
    assert length["top_drop_reasons"] == "filtered-page-toolong=1"


def test_size_rows_read_the_paper_csv(report):
    _, rows = report
    sizes = {r["variant"]: r for r in rows if r["section"] == "size"}
    paper = _paper_sizes()
    assert list(sizes) == ["en", "en.noclean"]
    en, noclean = sizes["en"], sizes["en.noclean"]
    assert (en["paper_row"], en["paper_size"]) == ("C4", paper["C4"])
    assert (noclean["paper_row"], noclean["paper_size"]) == ("C4, unfiltered", paper["C4, unfiltered"])
    assert (en["train_bytes"], en["train_docs"], en["validation_docs"]) == ("28600", "73", "1")
    assert (noclean["train_bytes"], noclean["train_docs"], noclean["validation_docs"]) == ("81500", "164", "1")
    assert (en["wet_files"], en["wet_files_skipped"], en["parsed_bytes"], en["surviving_bytes"]) == (
        "4", "1", "102000", "29000")
    assert (noclean["wet_files"], noclean["wet_files_skipped"]) == ("4", "0")  # no skipped counter = 0
    assert en["pct_of_parsed_bytes"] == f"{100 * 29000 / 102000:.4f}"
    assert noclean["pct_of_parsed_bytes"] == f"{100 * 82000 / 102000:.4f}"


def test_markdown_and_latex(report):
    reports, _ = report
    md = (reports / "c4_stats.md").read_text()
    tex = (reports / "c4_stats.tex").read_text()
    paper = _paper_sizes()
    assert "## Funnel: `en`" in md and "## Funnel: `en.noclean`" in md
    assert ("| clean | 182 | 84 | 42.0 % | 33 kB | filtered-page-toofewsentences (58), filtered-page-badword (22), "
            "filtered-page-squigglybracket (14) |") in md
    assert "loremipsum" not in md
    assert f"| en | C4 | {paper['C4']} | 28.6 kB | 28,600 | 73 | 1 | 4 (1) | 102 kB | 28.4 % |" in md
    assert (f"| en.noclean | C4, unfiltered | {paper['C4, unfiltered']} | 81.5 kB | 81,500 | 164 | 1 | 4 (0) | "
            "102 kB | 80.4 % |") in md
    assert "NOT comparable with the paper" in md
    assert "Not built in this run (no <variant>/stats.csv): realnewslike, webtextlike, multilingual." in md
    assert "\\toprule" in tex and "en & clean & 182 & 84 & 42.0 \\%" in tex
    assert "NOT comparable" in tex


def test_paper_scale_drops_the_smoke_note(c4_root, tmp_path):
    reports = tmp_path / "reports"
    c4_stats.run(_cfg(c4_root, reports, scale="paper"))
    md = (reports / "c4_stats.md").read_text()
    assert "NOT comparable" not in md and "orders of magnitude" in md


def test_figure(report, c4_root):
    reports, _ = report
    png, pdf = reports / "figures" / "c4_funnel.png", reports / "figures" / "c4_funnel.pdf"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-" and b"%%EOF" in pdf.read_bytes()[-64:]
    assert not list((reports / "figures").glob(".*tmp"))

    data = c4_stats.read_variants(c4_root)
    hists = c4_stats.language_histograms(data)
    assert hists == {"en.noclean": {"en": 168, "de": 5, "fr": 3, "ro": 4, "ja": 2}, "en": {"en": 75, "de": 2, "fr": 2}}
    assert c4_stats.top_languages(hists) == ["en", "de", "fr", "ro", "ja"]
    assert c4_stats.top_languages(hists, 2) == ["en", "de"]
    fig = c4_stats.plot_funnel(data)
    try:
        funnel_ax, lang_ax = fig.axes[:2]
        lines = {line.get_label(): list(line.get_ydata()) for line in funnel_ax.get_lines()}
        assert lines == {"en": [200, 199, 182, 84, 79, 74, 74], "en.noclean": [200, 199, 182, 165, 165]}
        assert funnel_ax.get_yscale() == "log"
        assert [t.get_text() for t in funnel_ax.get_xticklabels()] == [
            "parse", "length", "url_dedup", "clean", "dedup", "langid", "split"]
        assert [t.get_text() for t in lang_ax.get_xticklabels()] == ["en", "de", "fr", "ro", "ja"]
        heights = [p.get_height() for p in lang_ax.patches]
        assert heights == [168, 5, 3, 4, 2, 75, 2, 2, 0, 0]  # en.noclean bars, then en bars
    finally:
        c4_stats.plt.close(fig)


def test_figure_without_language_histogram(tmp_path):
    data = totals(read_rows(build_c4_root(tmp_path / "c4", {"en": EN}) / "en" / "stats.csv"))
    data["en"]["langid"] = {k: v for k, v in data["en"]["langid"].items() if not k.startswith("lang/")}
    paths = c4_stats.write_figure(data, tmp_path / "f")
    assert [p.name for p in paths] == ["c4_funnel.png", "c4_funnel.pdf"] and all(p.stat().st_size for p in paths)


def test_no_variants_found_names_the_folder_and_key(tmp_path):
    (tmp_path / "c4" / "en").mkdir(parents=True)  # a variant folder without stats.csv
    with pytest.raises(FileNotFoundError, match=r"io\.c4_root=.*c4: no C4 statistics found"):
        c4_stats.run(_cfg(tmp_path / "c4", tmp_path / "r"))
    with pytest.raises(FileNotFoundError, match=r"io\.c4_root=.*nowhere is not a folder"):
        c4_stats.run(_cfg(tmp_path / "nowhere", tmp_path / "r"))
    cfg = _cfg(tmp_path / "c4", tmp_path / "r")
    cfg.io.c4_root = None
    with pytest.raises(ConfigError, match="io.c4_root"):
        c4_stats.run(cfg)
    assert not (tmp_path / "r").exists()


def test_broken_funnel_fails_the_report(tmp_path):
    broken = EN[1].replace("en,1,dedup,pages_in,44\n", "en,1,dedup,pages_in,45\n").replace(
        "en,1,dedup,dropped/filtered-page-toofewsentences,3\n", "en,1,dedup,dropped/filtered-page-toofewsentences,4\n")
    assert broken != EN[1]
    root = build_c4_root(tmp_path / "c4", {"en": [EN[0], broken], "en.noclean": NOCLEAN})
    with pytest.raises(ValueError, match=r"en/stats\.csv: .*variant 'en', step 'dedup'"):
        c4_stats.run(_cfg(root, tmp_path / "r"))
    assert not (tmp_path / "r" / "c4_stats.md").exists()


def test_stats_of_another_variant_are_refused(tmp_path):
    root = build_c4_root(tmp_path / "c4", {"en": EN})
    (root / "webtextlike").mkdir()
    shutil.copy(root / "en" / "stats.csv", root / "webtextlike" / "stats.csv")
    with pytest.raises(ValueError, match=r"webtextlike/stats\.csv: rows of variant\(s\) \['en'\]"):
        c4_stats.read_variants(root)


def test_missing_table8_label_fails_loudly(c4_root, tmp_path):
    paper = tmp_path / "paper"
    shutil.copytree(PAPER_DIR, paper)
    path = paper / "table08_pretraining_datasets.csv"
    text = path.read_text()
    assert text.count("WebText-like,") == 1
    path.write_text(text.replace("WebText-like,", "WebText like,"))
    with pytest.raises(ValueError, match=r"no row labelled 'WebText-like'"):
        c4_stats.run(_cfg(c4_root, tmp_path / "r", paper_dir=paper))


def test_no_paper_number_is_typed_in_the_code():
    source = Path(c4_stats.__file__).read_text()
    for size in _paper_sizes().values():  # e.g. 745GB, also written as "745 GB"
        number = size.rstrip("GBT")
        assert size not in source and f"{number} {size[len(number):]}" not in source, size


@pytest.mark.parametrize("n, text", [(None, "—"), (0, "0 B"), (999, "999 B"), (1000, "1 kB"), (28600, "28.6 kB"),
                                     (745 * 10**9, "745 GB"), (6_100_000_000_000, "6.1 TB"), (999_600, "1 MB")])
def test_human_bytes(n, text):
    assert c4_stats.human_bytes(n) == text
