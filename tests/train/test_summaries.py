"""TensorBoard scalars (summaries.py) mirror metrics.csv step for step, also across a resume that recomputes rows."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from t5repro.train import summaries
from t5repro.train.trainer import METRICS_COLUMNS, TrainConfig, train
from tests.train.stand_in import StandIn, batch_stream

MODEL = StandIn()
SEED = 3
N = 8
RECIPE = TrainConfig(steps=N, batch_size=4, sequence_length={"inputs": 12, "targets": 6}, pack=False,
                     checkpoint_period=4, log_every=2)


def csv_rows(workdir) -> list[dict[str, float]]:
    with open(workdir / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def assert_scalars_equal_csv(workdir) -> dict[str, dict[int, float]]:
    scalars = summaries.read_scalars(workdir / "tensorboard")  # raises if a step was written twice
    rows = csv_rows(workdir)
    assert set(scalars) == {summaries.TAG_PREFIX + c for c in METRICS_COLUMNS if c != "step"}
    for column in METRICS_COLUMNS[1:]:
        tag = scalars[summaries.TAG_PREFIX + column]
        assert sorted(tag) == [int(r["step"]) for r in rows]
        for r in rows:
            assert tag[int(r["step"])] == np.float32(r[column]), (column, r["step"])  # float32 summaries
    return scalars


@pytest.fixture(scope="module")
def one_go(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one_go")
    train(model=MODEL, train_cfg=RECIPE, batches=batch_stream(0), workdir=workdir, seed=SEED)
    return workdir


def test_event_files_equal_metrics_csv(one_go):
    scalars = assert_scalars_equal_csv(one_go)
    assert sorted(scalars["train/loss"]) == [2, 4, 6, 8]
    assert scalars["train/learning_rate"][2] == np.float32(0.01)  # M46 plateau
    assert len(list((one_go / "tensorboard").glob(summaries.EVENT_FILE_GLOB))) == 1


def test_resume_rewrites_past_the_checkpoint_without_duplicates(one_go, tmp_path):
    """A run killed after logging steps 6 and 8 but before checkpoint 8: the resumed run recomputes 6 and 8;
    TensorBoard then holds each step once, with the resumed run's values (those of metrics.csv)."""
    w = tmp_path / "w"
    shutil.copytree(one_go, w)
    shutil.rmtree(w / "checkpoints" / "8")
    (w / "summary.json").unlink()
    before = summaries.read_scalars(w / "tensorboard")
    assert sorted(before["train/loss"]) == [2, 4, 6, 8]
    train(model=MODEL, train_cfg=RECIPE, batches=batch_stream(0), workdir=w, seed=SEED)
    after = assert_scalars_equal_csv(w)
    assert after["train/loss"] == before["train/loss"]  # deterministic resume (M83): same losses
    assert after["train/tokens_per_s"][8] != before["train/tokens_per_s"][8]  # but the row is the new run's
    assert len(list((w / "tensorboard").glob(summaries.EVENT_FILE_GLOB))) == 1  # the stale file is gone


def test_resume_in_process_appends(tmp_path):
    train(model=MODEL, train_cfg=RECIPE, batches=batch_stream(0), workdir=tmp_path, seed=SEED, total_steps=N // 2)
    assert sorted(summaries.read_scalars(tmp_path / "tensorboard")["train/ce"]) == [2, 4]
    train(model=MODEL, train_cfg=RECIPE, batches=batch_stream(0), workdir=tmp_path, seed=SEED)
    assert sorted(assert_scalars_equal_csv(tmp_path)["train/ce"]) == [2, 4, 6, 8]


def test_scalar_log_appends_and_rewrites(tmp_path):
    rows = [{"step": s, "loss": float(s)} for s in (1, 2, 3)]
    log = summaries.ScalarLog(tmp_path)
    log.sync(rows[:2])
    first = list(tmp_path.glob(summaries.EVENT_FILE_GLOB))
    log.sync(rows)  # an extension: appended to the same file
    assert list(tmp_path.glob(summaries.EVENT_FILE_GLOB)) == first
    assert summaries.read_scalars(tmp_path) == {"train/loss": {1: 1.0, 2: 2.0, 3: 3.0}}
    log.sync([{"step": 1, "loss": 1.0}, {"step": 2, "loss": 5.0}])  # history changed (resume): rewritten
    assert summaries.read_scalars(tmp_path) == {"train/loss": {1: 1.0, 2: 5.0}}
    assert list(tmp_path.glob(summaries.EVENT_FILE_GLOB)) != first
    log.close()
