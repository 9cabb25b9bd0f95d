"""Stage `report`: paper values read from the CSV beside ours, in the right columns; figures are valid files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from t5repro.config import ConfigError
from t5repro.report import figures, paper, tables

PAPER_DIR = (Path(os.environ["T5REPRO_DATA"]).parent if os.environ.get("T5REPRO_DATA")
             else Path(__file__).resolve().parents[3] / "shared") / "paper"


def _eval(path: Path, *, task, metric, primary, stands_in_for, best):
    path.parent.mkdir(parents=True, exist_ok=True)
    per = {"50": {primary: best - 1.0}, "100": {primary: best}}
    path.write_text(json.dumps({"task": task, "metric": metric, "primary_key": primary,
                                "stands_in_for": stands_in_for, "per_checkpoint": per, "best_step": 100,
                                "best": {primary: best}, "n_examples": 200, "examples": [],
                                "max_decode_length": 4}))


def _metrics(path: Path, losses):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["step,loss,ce,z_loss,accuracy,learning_rate,tokens_per_s,elapsed_s"]
    lines += [f"{10 * (i + 1)},{v},{v},0.0,0.1,0.01,100.0,{i}" for i, v in enumerate(losses)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture()
def results(tmp_path):
    root = tmp_path / "results"
    _eval(root / "smoke/eval/table01/baseline/smoke_cls.json", task="smoke_cls", metric="accuracy",
          primary="accuracy", stands_in_for="glue_avg", best=61.5)
    _eval(root / "smoke/eval/table01/baseline/smoke_gen.json", task="smoke_gen", metric="rouge2",
          primary="rouge2", stands_in_for="cnndm_rouge2", best=7.125)
    _eval(root / "paper/eval/table01/baseline/sst2.json", task="sst2", metric="accuracy",
          primary="accuracy", stands_in_for="glue_avg", best=92.25)
    _eval(root / "smoke/eval/table02/lm/smoke_cls.json", task="smoke_cls", metric="accuracy",  # other table
          primary="accuracy", stands_in_for="glue_avg", best=11.0)
    _metrics(root / "smoke/pretrain/table01/baseline/metrics.csv", [5.0, 4.0, 3.5])
    _metrics(root / "smoke/finetune/table01/baseline/smoke_cls/metrics.csv", [2.0, 1.0])
    _metrics(root / "smoke/pretrain/table01/no_pretraining/metrics.csv", [])  # 0 steps: header only
    return root


def _cfg(results_dir, reports_dir, paper_dir=PAPER_DIR, data_dir=None):
    return OmegaConf.create({"stage": "report", "report": {"table": "table01_baseline"},
                             "io": {"results_dir": str(results_dir), "reports_dir": str(reports_dir),
                                    "paper_dir": None if paper_dir is None else str(paper_dir),
                                    "data_dir": data_dir}})


def _paper_rows():
    with (PAPER_DIR / "table01_baseline.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_report_tables(results, tmp_path):
    reports = tmp_path / "reports"
    tables.run(_cfg(results, reports))
    md = (reports / "table01_baseline.md").read_text()
    tex = (reports / "table01_baseline.tex").read_text()
    with (reports / "table01_baseline.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(paper.SUMMARY_COLUMNS)
    assert list(rows[0]) == ["label", "source", "experiment", *columns]

    paper_rows = _paper_rows()
    assert [r["label"] for r in rows[:len(paper_rows)]] == [r["label"] for r in paper_rows]
    for ours, theirs in zip(rows, paper_rows):
        assert ours["source"] == "paper"
        for c in columns:
            assert ours[c] == theirs[c]              # printed strings, e.g. "0.090" keeps its zero
            assert theirs[c] in md and theirs[c] in tex
    # Our rows: smoke before paper scale, table02 excluded, stands_in_for picks the column.
    mine = rows[len(paper_rows):]
    assert [(r["source"], r["experiment"]) for r in mine] == [("ours@smoke", "table01/baseline"),
                                                             ("ours@paper", "table01/baseline")]
    smoke, full = mine
    assert smoke["glue_avg"] == "61.50" and smoke["cnndm_rouge2"] == "7.12"
    assert full["glue_avg"] == "92.25" and full["cnndm_rouge2"] == ""
    assert all(smoke[c] == "" for c in columns if c not in ("glue_avg", "cnndm_rouge2"))
    assert "11.00" not in md

    md_line = next(line for line in md.splitlines() if "ours@smoke" in line)
    cells = [c.strip() for c in md_line.strip("|").split("|")]
    assert cells[2:] == ["61.50", "7.12", "—", "—", "—", "—", "—"]
    assert "not comparable" in md.lower() and "smoke_cls accuracy" in md
    assert f"**{paper_rows[0]['glue_avg']}**" in md   # the paper's bold cells stay bold
    assert "\\toprule" in tex and "\\bottomrule" in tex and "ours@smoke & 61.50 & 7.12 & ---" in tex


def test_report_figures_are_valid(results, tmp_path):
    out = figures.loss_curves(results, tmp_path / "figs")
    png, pdf = (tmp_path / "figs" / "loss_curve.png"), (tmp_path / "figs" / "loss_curve.pdf")
    assert out == [png, pdf]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pdf.read_bytes()[:5] == b"%PDF-" and b"%%EOF" in pdf.read_bytes()[-64:]
    curves = figures.collect_curves(results)
    assert sorted((c.phase, c.label) for c in curves) == [
        ("finetune", "smoke: table01/baseline/smoke_cls"), ("pretrain", "smoke: table01/baseline")]
    assert not list((tmp_path / "figs").glob(".*tmp"))  # atomic writes leave no temporary file


def test_figures_empty_results_still_draw(tmp_path):
    (tmp_path / "r").mkdir()
    figures.loss_curves(tmp_path / "r", tmp_path / "f")
    assert (tmp_path / "f" / "loss_curve.png").stat().st_size > 0


def test_paper_dir_default_and_errors(tmp_path):
    data_dir = PAPER_DIR.parent / "data"
    cfg = _cfg(tmp_path, tmp_path, paper_dir=None, data_dir=str(data_dir))
    assert paper.paper_dir(cfg) == PAPER_DIR.parent / "paper"
    with pytest.raises(ConfigError, match="io.paper_dir"):
        paper.paper_dir(_cfg(tmp_path, tmp_path, paper_dir=None, data_dir=None))
    with pytest.raises(ConfigError, match="io.paper_dir"):
        paper.paper_dir(_cfg(tmp_path, tmp_path, paper_dir=tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="table99"):
        paper.read_table(PAPER_DIR, "table99")


def test_paper_table_values_keep_printed_strings():
    t = paper.read_table(PAPER_DIR, "table01_baseline")
    raw = _paper_rows()
    std = t.row(raw[1]["label"])
    assert std["wmt_enfr_bleu"] == raw[1]["wmt_enfr_bleu"]
    assert t.value(std, "wmt_enfr_bleu") == float(raw[1]["wmt_enfr_bleu"])
    assert t.bold(t.rows[0]) == set(raw[0]["bold_columns"].split(";"))
    with pytest.raises(KeyError, match="no column"):
        t.value(std, "nope")


def test_unknown_table_and_bad_eval_json(tmp_path):
    with pytest.raises(ConfigError, match="table01_baseline"):
        tables.get_table("table1")
    bad = tmp_path / "smoke/eval/table01/baseline/x.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{}")
    with pytest.raises(ValueError, match="x.json"):
        tables.collect_evals(tmp_path)


def test_missing_results_dir_names_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="io.results_dir"):
        tables.run(_cfg(tmp_path / "absent", tmp_path / "reports"))


def test_every_table_row_label_is_a_paper_row_and_every_experiment_has_one():
    """Each TableSpec's labels name rows of its paper CSV, and every experiment file of its folder has a label."""
    conf = Path(__file__).resolve().parents[2] / "conf" / "experiment"
    for name, spec in tables.TABLES.items():
        labels = {row.label for row in tables.paper_rows(paper.read_table(PAPER_DIR, name), spec)}
        stems = {p.stem for p in (conf / spec.experiment_dir).glob("*.yaml")}
        assert stems and stems <= set(spec.row_labels), (name, stems - set(spec.row_labels))
        if name != "table01_baseline":  # Table 1's paper rows are statistics of the baseline, not experiments
            assert set(spec.row_labels.values()) <= labels, (name, set(spec.row_labels.values()) - labels)


def test_table02_report_labels_paper_rows_by_architecture_and_objective(results, tmp_path):
    reports = tmp_path / "reports"
    cfg = _cfg(results, reports)
    cfg.report.table = "table02_architectures"
    tables.run(cfg)
    with (reports / "table02_architectures.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["label"] == "Encoder-decoder / Denoising" and rows[0]["glue_avg"] == "83.28"
    assert len([r for r in rows if r["source"] == "paper"]) == 10
    ours = [r for r in rows if r["source"] != "paper"]
    # the fixture's table02/lm run is not a Table 2 row name: it keeps its stem as label
    assert [(r["label"], r["glue_avg"]) for r in ours] == [("lm (ours, smoke)", "11.00")]
