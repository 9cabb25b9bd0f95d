"""End to end: the smoke DAG runs in a temporary directory, produces the table, figure and HTML report,
and a second run finds everything up to date (issue: smoke DAG end to end)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.workflow.test_dag import REPO, snakemake


@pytest.mark.slow
def test_smoke_dag_end_to_end(tmp_path):
    profile = str(REPO / "workflow/profiles/local")
    # The budget for the whole smoke DAG is 15 minutes on 2 cores (about 3-5 here).
    out = snakemake("--profile", profile, "--cores", "2", "--directory", str(tmp_path), "smoke", timeout=900)
    assert out.returncode == 0, out.stdout[-5000:]

    md = (tmp_path / "reports/table01_baseline.md").read_text()
    csv = pd.read_csv(tmp_path / "reports/table01_baseline.csv")
    assert "83.28" in md  # the paper's GLUE average for the baseline, read from shared/paper
    assert "smoke" in md
    ours = csv[csv["source"].astype(str).str.contains("smoke")]
    assert len(ours) == 1
    # the smoke classification task fills the GLUE column with a real accuracy in [0, 100]
    glue = float(ours["glue_avg"].iloc[0])
    assert 0.0 <= glue <= 100.0
    table03 = (tmp_path / "reports/table03_objectives.md").read_text()
    assert "Thank you for inviting" in table03 and "span_corruption" in table03
    for f in ("reports/table01_baseline.tex", "reports/figures/loss_curve.png", "reports/figures/loss_curve.pdf"):
        assert (tmp_path / f).stat().st_size > 0, f

    # every stage left its trail: C4 stats, vocabulary, pre-training metrics, evaluation JSONs
    stats = json.loads((tmp_path / "results/smoke/c4/en/stats.json").read_text())
    assert stats["splits"]["train"]["documents"] > 0 and stats["skipped_wet_files"] == []
    c4_report = (tmp_path / "reports/c4_stats.md").read_text()
    assert "745GB" in c4_report and "6.1TB" in c4_report  # Table 8's sizes beside ours (en, en.noclean)
    assert (tmp_path / "reports/figures/c4_funnel.png").stat().st_size > 0
    assert list((tmp_path / "results/smoke/c4/multilingual/de").glob("train-*.jsonl.gz"))
    assert (tmp_path / "results/smoke/vocab/spm.model").stat().st_size > 0
    metrics = pd.read_csv(tmp_path / "results/smoke/pretrain/table01/baseline/metrics.csv")
    assert metrics["loss"].iloc[-1] < metrics["loss"].iloc[0]  # pre-training learned something
    for task in ("smoke_cls", "smoke_gen"):
        ev = json.loads((tmp_path / f"results/smoke/eval/table01/baseline/{task}.json").read_text())
        assert ev["task"] == task and ev["n_examples"] > 0

    # a second run does nothing
    again = snakemake("-n", "--directory", str(tmp_path), "smoke")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout, again.stdout[-3000:]

    rep = snakemake("--directory", str(tmp_path), "smoke", "--report", str(tmp_path / "reports/report.html"))
    assert rep.returncode == 0, rep.stdout[-3000:]
    assert (tmp_path / "reports/report.html").stat().st_size > 10_000
