"""The Snakemake DAG: lint-clean, and the paper-scale job graph listed by a dry run (nothing executed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    # Snakemake 9 prints its messages and errors on stdout; merge the streams.
    return subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def job_counts(text: str) -> dict[str, int]:
    """Parse the 'Job stats' table that a dry run prints."""
    counts = {}
    for line in text.split("Job stats:")[1].splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_lint_is_clean():
    out = snakemake("--lint")
    assert out.returncode == 0, out.stdout
    assert "Lints for" not in out.stdout, out.stdout


def test_smoke_dry_run_lists_every_stage(tmp_path):
    out = snakemake("-n", "--directory", str(tmp_path), "smoke")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    for rule in ("wet_generate", "vocab", "taskdata", "pretrain", "table01_baseline", "table03_objectives"):
        assert counts.get(rule) == 1, counts
    assert counts["finetune"] == counts["evaluate"] == 2  # smoke_cls, smoke_gen
    # C4 variants en, multilingual (vocabulary, D30) and en.noclean (reports/c4_stats.md), 2 shards and 2
    # resolve parts each; en.noclean has no dedup step (D19)
    assert counts["c4_merge"] == 3 and counts["c4_stats"] == 1
    assert counts["c4_parse"] == counts["c4_clean"] == counts["c4_finish"] == 3 * 2
    assert counts["c4_resolve"] == 2 * 2 * 2 + 2
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


def test_paper_dry_run_lists_the_paper_scale_dag(tmp_path):
    out = snakemake("-n", "-p", "--directory", str(tmp_path), "--config", "scale=paper")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    assert counts["wet_download_shard"] == 56  # 56,000 WET files of CC-MAIN-2019-18 in shards of 1,000
    for rule in ("wet_paths", "c4_resources", "vocab", "pretrain", "table01_baseline", "table03_objectives"):
        assert counts.get(rule) == 1, counts
    assert counts["tfds_prepare"] == counts["finetune"] == counts["evaluate"] == 2
    assert "wet_generate" not in counts and "taskdata" not in counts  # nothing generated at paper scale
    assert "t5repro pretrain scale=paper" in out.stdout
    assert counts.get("c4_tokenize") == 1 and "data.tokenize_workers=" in out.stdout  # shards in parallel
    assert not (tmp_path / "resources").exists()


def smoke_dry_run(tmp_path: Path, experiments: list[str]) -> tuple[str, dict[str, int]]:
    """The smoke target's dry run (commands printed) for these experiments: (stdout, jobs per rule)."""
    out = snakemake("smoke", "-n", "-p", "--directory", str(tmp_path), "--config", f"experiments={experiments}")
    assert out.returncode == 0, out.stdout
    return out.stdout, job_counts(out.stdout)


def test_table10_rows_share_one_pretraining(tmp_path):  # §3.5.1: one pre-trained model, six fine-tunings
    rows = ["table10/all_params", "table10/adapters_32", "table10/gradual_unfreezing", "table06/rate_25"]
    stdout, counts = smoke_dry_run(tmp_path, rows)
    assert counts["pretrain"] == 2 and counts["finetune"] == 2 * len(rows), counts
    assert "io.pretrain_dir=work/smoke/pretrain/table10/all_params" in stdout
    assert "pretrain/table10/adapters_32" not in stdout and "pretrain/table06/rate_25" in stdout


def test_multitask_training_evaluates_the_mixture_run(tmp_path):  # §3.5.2, M63: no per-task fine-tuning
    stdout, counts = smoke_dry_run(tmp_path, ["table11/equal", "table12/multitask_pretraining"])
    assert counts["pretrain"] == 2 and counts["finetune"] == 2 and counts["evaluate"] == 4, counts
    assert "io.finetune_dir=work/smoke/pretrain/table11/equal" in stdout


def test_leave_one_out_pretrains_once_per_task(tmp_path):  # §3.5.3, M67
    stdout, counts = smoke_dry_run(tmp_path, ["table01/baseline", "table12/leave_one_out"])
    assert counts["pretrain"] == 1 and counts["pretrain_task"] == 2 and counts["finetune"] == 4, counts
    assert "t5repro pretrain scale=smoke experiment=table12/leave_one_out task=smoke_gen" in stdout
    assert "io.pretrain_dir=work/smoke/pretrain/table12/leave_one_out/smoke_gen" in stdout
    assert "io.task_data_dir=results/smoke/taskdata" in stdout  # the mixture's supervised tasks


def test_a_paper_table_is_a_target_fed_by_its_experiments(tmp_path):  # e.g. Table 10 (§3.5.1)
    out = snakemake("reports/table10_finetuning_methods.md", "-n", "-p", "--directory", str(tmp_path), "--config",
                    "experiments=['table01/baseline','table10/all_params','table10/adapters_32']")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    assert counts["report_table"] == 1 and counts["pretrain"] == 1, counts  # Table 10 shares the baseline's
    assert counts["finetune"] == counts["evaluate"] == 2 * 2, counts  # table01/baseline is not an input
    assert "report.table=table10_finetuning_methods" in out.stdout


def test_paper_c4_en_is_one_job_per_wet_shard_plus_dedup_stages(tmp_path):
    """Issue: `snakemake -n` for c4/en at paper scale lists one job per WET shard plus the dedup stages."""
    out = snakemake("-n", "-p", "--directory", str(tmp_path), "--config", "scale=paper", "--",
                    "results/paper/c4/en")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    assert counts["wet_download_shard"] == counts["c4_parse"] == counts["c4_clean"] == counts["c4_finish"] == 56
    assert counts["c4_resolve"] == 2 * 64  # url + dedup, 64 parts each (conf/scale/paper.yaml)
    assert counts["c4_merge"] == 1 and counts["wet_paths"] == 1
    assert "c4.wet_layout=shard" in out.stdout and "c4.num_shards=56" in out.stdout
    assert "io.wet_dir=resources/commoncrawl/CC-MAIN-2019-18/wet/shard-00055" in out.stdout


@pytest.mark.parametrize("variant,extra_rule", [("en.noclean", None), ("realnewslike", "c4_variant_inputs"),
                                                ("webtextlike", "c4_variant_inputs")])
def test_smoke_variant_targets(tmp_path, variant, extra_rule):
    out = snakemake("-n", "-p", "--directory", str(tmp_path), "--", f"results/smoke/c4/{variant}")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    assert counts["c4_merge"] == 1 and counts["c4_parse"] == 2
    assert counts["c4_resolve"] == (2 if variant == "en.noclean" else 4)  # noclean: no dedup (D19)
    if extra_rule:
        assert counts[extra_rule] == 1


def test_webtextlike_reads_twelve_dumps_at_paper_scale(tmp_path):  # spec D1
    out = snakemake("-n", "--directory", str(tmp_path), "--config", "scale=paper", "--", "results/paper/c4/webtextlike")
    assert out.returncode == 0, out.stdout
    counts = job_counts(out.stdout)
    assert counts["wet_paths"] == 12 and counts["c4_parse"] == 56 + 11 * 64


def test_slurm_profile_dry_run(tmp_path):
    out = snakemake("-n", "--directory", str(tmp_path), "--profile", str(REPO / "workflow/profiles/slurm"),
                    "--config", "scale=paper")
    assert out.returncode == 0, out.stdout
    assert job_counts(out.stdout)["pretrain"] == 1
    # C4 jobs ask for one core and 4 GB (they stream; the bound is 2 GB a job)
    c4_jobs = re.findall(r"rule (c4_(?:parse|resolve|clean|finish|merge)):.*?resources: ([^\n]*)", out.stdout, flags=re.S)
    assert c4_jobs and all("mem_mb=4000" in r or "mem_mb=2000" in r for _, r in c4_jobs)
    assert all("cpus_per_task=1" in r for _, r in c4_jobs)


def test_bad_config_is_rejected_by_schema(tmp_path):
    out = snakemake("-n", "--directory", str(tmp_path), "--config", "scale=huge")
    assert out.returncode != 0
    assert "scale" in out.stdout and "huge" in out.stdout


def test_smoke_target_refuses_paper_scale(tmp_path):
    out = snakemake("-n", "--directory", str(tmp_path), "smoke", "--config", "scale=paper")
    assert out.returncode != 0
    assert "--config scale=smoke" in out.stdout
