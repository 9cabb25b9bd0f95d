"""C4 statistics report (report.table=c4_stats): where pages go in each C4 build, and its size beside Table 8.

Reads `<io.c4_root>/<variant>/stats.csv` for each variant of `VARIANTS` that was built (long format of
`t5repro.c4.stats_csv`, spec D24; shards are summed) and `io.paper_dir/table08_pretraining_datasets.csv`
(the paper's sizes, §3.4.1, as printed). Writes, each atomically, into `io.reports_dir`:

- `c4_stats.{md,csv,tex}`: per variant the funnel (one row per step of D18: pages in, pages out, % of the
  parsed pages still there, bytes out, top 3 drop reasons), then the size table: our train-split text size
  and documents beside the paper's size for the variant's Table 8 row (D19), and the share of parsed text
  bytes that survives the pipeline.
- `figures/c4_funnel.{png,pdf}`: pages remaining after each step per variant (log scale), and the top-10
  language histogram at `langid` of `en.noclean` and `en`.

No paper number is typed here: sizes come from the CSV, matched by the exact row labels in `PAPER_ROWS`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: Snakemake jobs and CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from t5repro import config as config_lib  # noqa: E402
from t5repro import io as io_lib  # noqa: E402
from t5repro.c4 import stats_csv  # noqa: E402
from t5repro.c4.stats_csv import STEPS, Totals  # noqa: E402
from t5repro.report.paper import PaperTable, paper_dir, read_table  # noqa: E402

logger = logging.getLogger(__name__)

NAME = "c4_stats"
FIGURE = "c4_funnel"
PAPER_CSV = "table08_pretraining_datasets"
TITLE = "C4 statistics: pages through each step of our C4 builds, and their sizes beside Table 8 (§3.4.1)"
VARIANTS = ("en", "en.noclean", "realnewslike", "webtextlike", "multilingual")  # <c4_root>/<variant>/stats.csv
# Variant -> its row label in table08_pretraining_datasets.csv (spec D19); labels only, never numbers.
PAPER_ROWS: dict[str, str] = {
    "en": "C4",
    "en.noclean": "C4, unfiltered",
    "realnewslike": "RealNews-like",
    "webtextlike": "WebText-like",
}
LANG_VARIANTS = ("en.noclean", "en")  # the language histogram panel
TOP_DROPS = 3
TOP_LANGS = 10
MISSING = "—"


# ----------------------------------------------------------------- reading


def read_variants(c4_root: str | Path) -> Totals:
    """variant -> step -> counter -> value for every built variant (missing ones skipped); funnels checked.

    None found raises FileNotFoundError naming the folder and `io.c4_root`.
    """
    root = Path(c4_root)
    if not root.is_dir():
        raise FileNotFoundError(f"io.c4_root={root} is not a folder (pass io.c4_root=<the C4 output root, "
                                f"one subfolder per variant: {', '.join(VARIANTS)}>)")
    out: Totals = {}
    for variant in VARIANTS:
        path = root / variant / "stats.csv"
        if not path.is_file():
            logger.info("C4 variant %s: no %s (not built); skipped", variant, path)
            continue
        rows = stats_csv.read_rows(path)
        others = sorted({r.variant for r in rows} - {variant})
        if others:
            raise ValueError(f"{path}: rows of variant(s) {others} in the statistics of variant {variant!r}")
        if not rows:
            raise ValueError(f"{path}: no statistics rows")
        try:
            stats_csv.check_funnel(rows)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        out[variant] = stats_csv.totals(rows)[variant]
    unknown = sorted(p.parent.name for p in root.glob("*/stats.csv") if p.parent.name not in VARIANTS)
    if unknown:
        logger.warning("io.c4_root=%s: ignoring unknown variant folder(s) %s (known: %s)", root, unknown,
                       ", ".join(VARIANTS))
    if not out:
        raise FileNotFoundError(
            f"io.c4_root={root}: no C4 statistics found (looked for <variant>/stats.csv with variant in "
            f"{', '.join(VARIANTS)}); build C4 first, or point io.c4_root at the folder holding the variants")
    return out


def paper_sizes(paper: PaperTable) -> dict[str, str]:
    """variant -> the paper's size as printed, for every variant with a Table 8 row; a missing label raises."""
    if "size" not in paper.columns:
        raise ValueError(f"{paper.path.name} has no column 'size' (columns: {', '.join(paper.columns)})")
    labels = [r["label"] for r in paper.rows]
    missing = [label for label in PAPER_ROWS.values() if label not in labels]
    if missing:
        raise ValueError(f"{paper.path.name}: no row labelled {', '.join(repr(m) for m in missing)} "
                         f"(labels: {', '.join(repr(label) for label in labels)})")
    return {variant: paper.row(label)["size"] for variant, label in PAPER_ROWS.items()}


# ----------------------------------------------------------------- the tables


@dataclasses.dataclass(frozen=True)
class FunnelRow:
    """One step of one variant: pages in/out, % of parsed pages remaining, bytes out, largest drop reasons."""

    variant: str
    step: str
    pages_in: int
    pages_out: int
    pct_of_parsed: float | None       # None: no parsed pages to divide by
    bytes_out: int | None
    top_drops: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class SizeRow:
    """One variant's output size beside the paper's Table 8 row (None = not counted / no such row)."""

    variant: str
    paper_row: str | None
    paper_size: str | None
    train_bytes: int | None
    train_docs: int | None
    validation_docs: int | None
    wet_files: int | None
    wet_files_skipped: int | None
    parsed_bytes: int | None
    surviving_bytes: int | None
    pct_of_parsed_bytes: float | None


def _parsed_pages(steps: Mapping[str, Mapping[str, int]]) -> int:
    """Pages out of `parse`; without a `parse` step, the pages entering the first step present."""
    if "parse" in steps:
        return steps["parse"]["pages_out"]
    return steps[min(steps, key=STEPS.index)]["pages_in"]


def _pct(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else 100.0 * part / whole


def funnel_rows(variant: str, steps: Mapping[str, Mapping[str, int]]) -> list[FunnelRow]:
    """The funnel of one variant in pipeline order; % is of the pages `parse` emitted (its pages_out)."""
    parsed = _parsed_pages(steps)
    rows = []
    for step in sorted(steps, key=STEPS.index):
        c = steps[step]
        drops = sorted(((k[len(stats_csv.DROPPED):], v) for k, v in c.items()
                        if k.startswith(stats_csv.DROPPED) and v > 0), key=lambda kv: (-kv[1], kv[0]))
        rows.append(FunnelRow(variant=variant, step=step, pages_in=c["pages_in"], pages_out=c["pages_out"],
                              pct_of_parsed=_pct(c["pages_out"], parsed), bytes_out=c.get("bytes_out"),
                              top_drops=tuple(drops[:TOP_DROPS])))
    return rows


def size_row(variant: str, steps: Mapping[str, Mapping[str, int]], sizes: Mapping[str, str]) -> SizeRow:
    """Train-split bytes/documents at `split`; surviving = bytes out of the last step / bytes out of `parse`."""
    parse = steps.get("parse", {})
    split = steps.get("split", {})
    last = steps[max(steps, key=STEPS.index)]
    parsed_bytes, surviving = parse.get("bytes_out"), last.get("bytes_out")
    return SizeRow(variant=variant, paper_row=PAPER_ROWS.get(variant), paper_size=sizes.get(variant),
                   train_bytes=split.get("bytes_out/train"), train_docs=split.get("pages_out/train"),
                   validation_docs=split.get("pages_out/validation"), wet_files=parse.get("wet_files"),
                   # the C4 stage writes wet_files_skipped only when it skipped a file
                   wet_files_skipped=parse.get("wet_files_skipped", 0 if "wet_files" in parse else None),
                   parsed_bytes=parsed_bytes,
                   surviving_bytes=surviving, pct_of_parsed_bytes=_pct(surviving, parsed_bytes))


@dataclasses.dataclass
class Report:
    funnels: dict[str, list[FunnelRow]]
    sizes: list[SizeRow]
    notes: list[str]


def build_report(data: Totals, sizes: Mapping[str, str], *, scale: str | None, c4_root: str | Path) -> Report:
    funnels = {v: funnel_rows(v, data[v]) for v in VARIANTS if v in data}
    size_rows = [size_row(v, data[v], sizes) for v in funnels]
    notes = [
        f"Funnel: pages entering and leaving each step of the C4 pipeline (spec D18), from "
        f"{c4_root}/<variant>/stats.csv, summed over shards. \"% of parsed\" = pages out / the pages `parse` "
        "emitted; bytes = UTF-8 bytes of page text; decimal units (1 MB = 10^6 bytes). Drop reasons are the "
        f"TFDS counter names of the step's `dropped/*` counters, the {TOP_DROPS} largest (pages).",
        f"Paper size: Raffel et al. (2020), Table 8 (Section 3.4.1), as printed in {PAPER_CSV}.csv; variant -> "
        "row (spec D19): " + ", ".join(f"{v} -> \"{label}\"" for v, label in PAPER_ROWS.items()) + ". "
        "Ours: UTF-8 bytes of the page text of the train split. The paper does not say whether its sizes count "
        "text or stored files, nor whether GB means 10^9 or 2^30 bytes: compare orders of magnitude. A build "
        "that reads only part of the paper's Common Crawl dump(s) is proportionally smaller.",
        "Surviving = bytes out of the last step (every split) / bytes out of `parse`.",
    ]
    if scale != "paper":
        wet = max((r.wet_files or 0 for r in size_rows), default=0)
        notes.append(f"Scale {scale or 'unknown (scale_name not set)'}: these builds come from small WET inputs "
                     f"(at most {wet:,} WET files parsed per variant), not the paper's Common Crawl dumps. Their "
                     "sizes are NOT comparable with the paper's; only the shape of the funnel is informative.")
    if "multilingual" in funnels:
        notes.append("multilingual (mC4) is not part of the T5 paper and has no Table 8 row.")
    absent = [v for v in VARIANTS if v not in funnels]
    if absent:
        notes.append(f"Not built in this run (no <variant>/stats.csv): {', '.join(absent)}.")
    return Report(funnels=funnels, sizes=size_rows, notes=notes)


# ----------------------------------------------------------------- rendering


def human_bytes(n: int | None) -> str:
    """Decimal units, 3 significant digits: 999 B, 1 kB, 28.6 kB, 1.23 GB; None -> —."""
    if n is None:
        return MISSING
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 999.5 or unit == "PB":
            return f"{n} B" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000.0
    raise AssertionError("unreachable")


def _int(n: int | None) -> str:
    return MISSING if n is None else f"{n:,}"


def _pct_text(p: float | None) -> str:
    if p is None:
        return MISSING
    return f"{p:.1f} %" if p >= 1 or p == 0 else f"{p:.2g} %"


def _drops_text(drops: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{name} ({n:,})" for name, n in drops) or MISSING


FUNNEL_HEADER = ("Step", "Pages in", "Pages out", "% of parsed", "Bytes out", f"Top {TOP_DROPS} drop reasons")
SIZE_HEADER = ("Variant", "Table 8 row", "Paper size", "Our train text", "Train bytes", "Train docs",
               "Validation docs", "WET files (skipped)", "Parsed text", "Surviving")


def _funnel_cells(r: FunnelRow) -> list[str]:
    return [r.step, _int(r.pages_in), _int(r.pages_out), _pct_text(r.pct_of_parsed), human_bytes(r.bytes_out),
            _drops_text(r.top_drops)]


def _size_cells(r: SizeRow) -> list[str]:
    wet = MISSING if r.wet_files is None else f"{r.wet_files:,} ({_int(r.wet_files_skipped)})"
    return [r.variant, r.paper_row or MISSING, r.paper_size or MISSING, human_bytes(r.train_bytes),
            _int(r.train_bytes), _int(r.train_docs), _int(r.validation_docs), wet, human_bytes(r.parsed_bytes),
            _pct_text(r.pct_of_parsed_bytes)]


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_markdown(report: Report) -> str:
    lines = [f"# {TITLE}", ""]
    for variant, rows in report.funnels.items():
        lines += [f"## Funnel: `{variant}`", "", _md_row(FUNNEL_HEADER),
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        lines += [_md_row(_funnel_cells(r)) for r in rows]
        lines.append("")
    lines += ["## Sizes beside Table 8", "", _md_row(SIZE_HEADER),
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [_md_row(_size_cells(r)) for r in report.sizes]
    lines.append("")
    lines += [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("section", "variant", "step", "pages_in", "pages_out", "pct_of_parsed_pages", "bytes_out",
               "top_drop_reasons", "paper_row", "paper_size", "train_bytes", "train_docs", "validation_docs",
               "wet_files", "wet_files_skipped", "parsed_bytes", "surviving_bytes", "pct_of_parsed_bytes")


def _csv_num(x: int | float | None) -> str:
    if x is None:
        return ""
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def render_csv(report: Report) -> str:
    """Machine-readable: section `funnel` rows (one per step) then section `size` rows; empty = not counted."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    for rows in report.funnels.values():
        for r in rows:
            writer.writerow({"section": "funnel", "variant": r.variant, "step": r.step,
                             "pages_in": r.pages_in, "pages_out": r.pages_out,
                             "pct_of_parsed_pages": _csv_num(r.pct_of_parsed), "bytes_out": _csv_num(r.bytes_out),
                             "top_drop_reasons": ";".join(f"{k}={v}" for k, v in r.top_drops)})
    for s in report.sizes:
        writer.writerow({"section": "size", "variant": s.variant, "paper_row": s.paper_row or "",
                         "paper_size": s.paper_size or "", "train_bytes": _csv_num(s.train_bytes),
                         "train_docs": _csv_num(s.train_docs), "validation_docs": _csv_num(s.validation_docs),
                         "wet_files": _csv_num(s.wet_files), "wet_files_skipped": _csv_num(s.wet_files_skipped),
                         "parsed_bytes": _csv_num(s.parsed_bytes), "surviving_bytes": _csv_num(s.surviving_bytes),
                         "pct_of_parsed_bytes": _csv_num(s.pct_of_parsed_bytes)})
    return buf.getvalue()


def render_latex(report: Report) -> str:
    """Two booktabs tabulars (funnel with a variant column, sizes), then the notes in footnote size."""
    from t5repro.report.tables import tex_escape

    def row(cells: Sequence[str]) -> str:
        return " & ".join(tex_escape(c) for c in cells) + " \\\\"

    lines = [f"% {tex_escape(TITLE)}; generated by `t5repro report`, do not edit.", "% Needs \\usepackage{booktabs}.",
             "\\begin{tabular}{llrrrrl}", "\\toprule", row(["Variant", *FUNNEL_HEADER]), "\\midrule"]
    for i, rows in enumerate(report.funnels.values()):
        if i:
            lines.append("\\midrule")
        lines += [row([r.variant, *_funnel_cells(r)]) for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\bigskip", "",
              "\\begin{tabular}{lllrrrrrrr}", "\\toprule", row(SIZE_HEADER), "\\midrule"]
    lines += [row(_size_cells(r)) for r in report.sizes]
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\par\\smallskip{\\footnotesize"]
    lines += [tex_escape(n) + "\\par" for n in report.notes]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- the figure


def language_histograms(data: Totals) -> dict[str, dict[str, int]]:
    """variant -> language code -> pages, from the `lang/<code>` counters at `langid` of `LANG_VARIANTS`."""
    out = {}
    for variant in LANG_VARIANTS:
        counters = data.get(variant, {}).get("langid", {})
        hist = {k[len("lang/"):]: v for k, v in counters.items() if k.startswith("lang/")}
        if hist:
            out[variant] = hist
    return out


class _PlainLogFormatter(ticker.LogFormatter):
    """Log-axis labels as plain counts (1,000 rather than 10^3); which ticks get a label is LogFormatter's choice."""

    def __call__(self, x, pos=None):
        return f"{x:,.0f}" if x >= 1 and super().__call__(x, pos) else ""


def _plain_log_labels(axis) -> None:
    axis.set_major_formatter(_PlainLogFormatter())
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))


def top_languages(hists: Mapping[str, Mapping[str, int]], k: int = TOP_LANGS) -> list[str]:
    """The k languages with the most pages over all histograms (ties by code)."""
    total: dict[str, int] = {}
    for hist in hists.values():
        for code, n in hist.items():
            total[code] = total.get(code, 0) + n
    return sorted(total, key=lambda c: (-total[c], c))[:k]


def plot_funnel(data: Totals) -> plt.Figure:
    """Left: pages out of each step per variant (log y; 0 is not drawn). Right: top-10 languages at langid."""
    fig, (ax, ax_lang) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    steps = [s for s in STEPS if any(s in data[v] for v in data)]
    x_of = {s: i for i, s in enumerate(steps)}
    zero = False
    for variant in (v for v in VARIANTS if v in data):
        present = [s for s in steps if s in data[variant]]
        xs = [x_of[s] for s in present if data[variant][s]["pages_out"] > 0]
        ys = [data[variant][s]["pages_out"] for s in present if data[variant][s]["pages_out"] > 0]
        zero |= len(xs) < len(present)
        ax.plot(xs, ys, marker="o", linewidth=1.4, label=variant)
    ax.set_xticks(range(len(steps)), steps, rotation=35, ha="right")
    ax.set_yscale("log")
    _plain_log_labels(ax.yaxis)
    ax.set_ylabel("pages remaining (pages out)")
    ax.set_title("Pages remaining after each step" + (" (0 not drawn)" if zero else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)

    hists = language_histograms(data)
    if hists:
        langs = top_languages(hists)
        width = 0.8 / len(hists)
        for j, (variant, hist) in enumerate(hists.items()):
            ax_lang.bar([i + (j - (len(hists) - 1) / 2) * width for i in range(len(langs))],
                        [hist.get(c, 0) for c in langs], width=width, label=variant)
        ax_lang.set_xticks(range(len(langs)), langs)
        if all(n > 0 for hist in hists.values() for n in hist.values()):
            ax_lang.set_yscale("log")
            ax_lang.set_ylim(bottom=0.5)  # so that a bar of 1 or 2 pages is visible
            _plain_log_labels(ax_lang.yaxis)
        ax_lang.set_ylabel("pages entering langid")
        ax_lang.legend(fontsize=8)
        ax_lang.grid(True, axis="y", alpha=0.3)
    else:
        ax_lang.text(0.5, 0.5, "no language histogram at langid\nfor " + " / ".join(LANG_VARIANTS),
                     ha="center", va="center", transform=ax_lang.transAxes)
    ax_lang.set_title(f"Top-{TOP_LANGS} languages at langid (top langdetect prediction)")
    return fig


def write_figure(data: Totals, out_dir: str | Path) -> list[Path]:
    """`out_dir/c4_funnel.{png,pdf}`, atomically; return the paths."""
    from t5repro.report.figures import save_figure

    return save_figure(plot_funnel(data), out_dir, FIGURE)


# ----------------------------------------------------------------- stage


def run(cfg: DictConfig) -> list[Path]:
    """Stage `report` with report.table=c4_stats: write the tables and the figure; return their paths."""
    c4_root = config_lib.require_path(cfg, "io.c4_root")
    reports_dir = config_lib.require_path(cfg, "io.reports_dir")
    sizes = paper_sizes(read_table(paper_dir(cfg), PAPER_CSV))
    data = read_variants(c4_root)
    scale = OmegaConf.select(cfg, "scale_name", default=None)
    report = build_report(data, sizes, scale=None if scale is None else str(scale), c4_root=c4_root)
    out = []
    for suffix, render in (("md", render_markdown), ("csv", render_csv), ("tex", render_latex)):
        path = reports_dir / f"{NAME}.{suffix}"
        io_lib.write_text(path, render(report))
        out.append(path)
    out += write_figure(data, reports_dir / "figures")
    for path in out:
        logger.info("wrote %s", path)
    return out
