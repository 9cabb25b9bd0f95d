"""The trainer on a stand-in model: resume is bit-identical, interrupted saves are ignored, SIGTERM
checkpoints, metrics have no duplicate rows, steps == 0 leaves a valid workdir (spec M42, M52, M53, M83, M86)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from t5repro.train.checkpoint import Checkpointer, latest_step, load_params
from t5repro.train.optim import all_trainable, factored_state, make_optimizer
from t5repro.train.schedules import make_schedule
from t5repro.train.state import TrainState
from t5repro.train.trainer import METRICS_COLUMNS, TrainConfig, TrainingInterrupted, init_model_params, train
from tests.train.stand_in import StandIn, batch_stream

MODEL = StandIn()
SEED = 3
N = 8


def recipe(**kw) -> TrainConfig:
    base = dict(steps=N, batch_size=4, sequence_length={"inputs": 12, "targets": 6}, pack=False, schedule="rsqrt",
                warmup_steps=10_000, learning_rate=0.01, z_loss=1e-4, loss_normalizing_factor=None,
                checkpoint_period=4, keep_checkpoints=None, log_every=2)
    base.update(kw)
    return TrainConfig(**base)


def like_state(cfg: TrainConfig = recipe()) -> TrainState:
    params = init_model_params(MODEL, jax.random.PRNGKey(0))
    return TrainState.create(params, make_optimizer(make_schedule(cfg)).init(params))


def final_state(workdir) -> tuple[TrainState, dict]:
    ckpt = Checkpointer(workdir, period=1)
    try:
        return ckpt.restore(like_state())
    finally:
        ckpt.close()


def metrics_rows(workdir) -> list[dict]:
    with open(workdir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def assert_trees_equal(a, b) -> None:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """N steps in one go."""
    workdir = tmp_path_factory.mktemp("reference")
    summary = train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=workdir, seed=SEED,
                    flops_per_example=1e9)
    state, meta = final_state(workdir)
    return workdir, summary, state, meta


def test_one_go_run_layout_and_summary(reference):
    workdir, summary, state, meta = reference
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["4", "8"]  # M52
    assert int(state.step) == N and meta["batches_consumed"] == N and meta["global_step"] == N
    on_disk = json.loads((workdir / "summary.json").read_text())
    assert on_disk["steps"] == N and on_disk["global_step"] == N and on_disk["param_count"] > 0
    assert on_disk["final_loss"] == pytest.approx(summary["final_loss"]) and np.isfinite(on_disk["final_loss"])
    # spec M89 from the steady step time: 4 examples of 12/6 tokens a step, 1 GFLOP each; no MFU on a CPU
    t = on_disk["step_time_s"]
    assert t > 0 and on_disk["examples_per_s"] == pytest.approx(4 / t)
    assert on_disk["target_tokens_per_s"] == pytest.approx(24 / t) and on_disk["tokens_per_s"] > 0
    assert on_disk["model_tflops_per_s"] == pytest.approx(4e9 / t / 1e12)
    assert on_disk["mfu"] is None and on_disk["peak_tflops"] is None
    parts = on_disk["step_time_breakdown_s"]  # M89: where the steady step time went, summing to it
    assert set(parts) == {"compute", "input", "metrics", "checkpoint"} and min(parts.values()) >= 0
    assert sum(parts.values()) == pytest.approx(t) and parts["compute"] > 0
    rows = metrics_rows(workdir)
    assert list(rows[0]) == list(METRICS_COLUMNS)
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert float(rows[0]["learning_rate"]) == pytest.approx(0.01)  # M46 plateau from the first update
    assert int(factored_state(state.opt_state).count) == N


def test_an_input_bound_run_shows_its_input_time_m89(tmp_path):
    """A data iterator that takes 50 ms a batch: the summary's breakdown puts at least that in `input`, per
    steady step, and the parts still sum to the step time."""
    def slow(batches):
        for b in batches:
            time.sleep(0.05)
            yield b

    summary = train(model=MODEL, train_cfg=recipe(), batches=slow(batch_stream(0)), workdir=tmp_path, seed=SEED)
    parts = summary["step_time_breakdown_s"]
    assert parts["input"] >= 0.05 and sum(parts.values()) == pytest.approx(summary["step_time_s"])


def test_only_the_primary_process_writes_shared_files_m85(reference, tmp_path, monkeypatch):
    """A non-primary process (jax.process_index() != 0) trains and checkpoints (orbax coordinates those writes)
    but writes no metrics.csv, TensorBoard events or summary.json: one writer per shared path."""
    from t5repro.train import trainer

    monkeypatch.setattr(trainer, "is_primary", lambda: False)
    summary = train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED)
    assert summary["steps"] == N and summary["final_loss"] == pytest.approx(reference[1]["final_loss"])
    assert latest_step(tmp_path) == N
    assert not any((tmp_path / name).exists() for name in ("metrics.csv", "summary.json", "tensorboard"))


def test_resume_is_bit_identical(reference, tmp_path):
    ref_dir, _, ref_state, _ = reference
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED, total_steps=N // 2)
    assert latest_step(tmp_path) == N // 2
    # a new process would re-create the iterator from the same seed; the trainer skips consumed batches
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED)
    state, meta = final_state(tmp_path)
    assert_trees_equal(state, ref_state)
    assert [r["step"] for r in metrics_rows(tmp_path)] == ["2", "4", "6", "8"]  # no duplicate rows
    assert [r["loss"] for r in metrics_rows(tmp_path)] == [r["loss"] for r in metrics_rows(ref_dir)]


def test_rerunning_a_finished_workdir_does_nothing(reference, tmp_path):
    ref_dir, _, ref_state, _ = reference
    shutil.copytree(ref_dir, tmp_path / "w")
    (tmp_path / "w" / "summary.json").unlink()

    def no_batches():
        raise AssertionError("a finished run must not read data")
        yield  # pragma: no cover

    summary = train(model=MODEL, train_cfg=recipe(), batches=no_batches(), workdir=tmp_path / "w", seed=SEED)
    assert summary["global_step"] == N and (tmp_path / "w" / "summary.json").exists()


def test_interrupted_save_is_ignored(reference, tmp_path):
    _, _, ref_state, _ = reference
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED, total_steps=N // 2)
    ckdir = tmp_path / "checkpoints"
    # a save of step 6 killed before orbax's final rename: complete-looking contents, tmp name
    shutil.copytree(ckdir / "4", ckdir / "6.orbax-checkpoint-tmp")
    (ckdir / "6.orbax-checkpoint-tmp" / "state" / "garbage").write_bytes(b"\x00" * 10)
    assert latest_step(tmp_path) == N // 2
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED)
    assert not (ckdir / "6.orbax-checkpoint-tmp").exists()
    state, _ = final_state(tmp_path)
    assert_trees_equal(state, ref_state)


def test_metrics_truncated_to_restored_step(reference, tmp_path):
    ref_dir, _, ref_state, _ = reference
    shutil.copytree(ref_dir, tmp_path / "w")
    w = tmp_path / "w"
    # crash after metrics rows 6 and 8 were written but before checkpoint 8 existed
    shutil.rmtree(w / "checkpoints" / "8")
    (w / "summary.json").unlink()
    with open(w / "metrics.csv", "a") as f:
        f.write("9,torn")  # a torn last line
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=w, seed=SEED)
    assert [r["step"] for r in metrics_rows(w)] == ["2", "4", "6", "8"]
    assert [r["loss"] for r in metrics_rows(w)] == [r["loss"] for r in metrics_rows(ref_dir)]
    assert_trees_equal(final_state(w)[0], ref_state)


def test_sigterm_saves_and_exits_then_resumes(reference, tmp_path):
    _, _, ref_state, _ = reference

    def batches_then_sigterm():
        for i, b in enumerate(batch_stream(0)):
            if i == 2:  # batch 3 is being fetched: the trainer finishes step 3, then checkpoints it
                os.kill(os.getpid(), signal.SIGTERM)
            yield b

    with pytest.raises(TrainingInterrupted) as exc:
        train(model=MODEL, train_cfg=recipe(), batches=batches_then_sigterm(), workdir=tmp_path, seed=SEED)
    assert exc.value.code == 143
    assert latest_step(tmp_path) == 3
    assert not (tmp_path / "summary.json").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))
    train(model=MODEL, train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED)
    assert_trees_equal(final_state(tmp_path)[0], ref_state)


def test_steps_zero_keeps_random_init_as_step0(tmp_path):
    """Table 1 "no pre-training": a valid workdir whose step-0 checkpoint is the random initialisation."""
    summary = train(model=MODEL, train_cfg=recipe(steps=0), batches=iter(()), workdir=tmp_path, seed=SEED)
    assert summary["steps"] == 0 and summary["global_step"] == 0 and summary["final_loss"] is None
    assert latest_step(tmp_path) == 0
    state, meta = final_state(tmp_path)
    expected = init_model_params(MODEL, jax.random.split(jax.random.PRNGKey(SEED))[0])
    assert_trees_equal(state.params, expected)
    assert int(factored_state(state.opt_state).count) == 0 and meta["global_step"] == 0
    assert metrics_rows(tmp_path) == [] and (tmp_path / "metrics.csv").read_text().startswith("step,loss,ce")


def test_finetune_from_pretrain_continues_global_step_m42_m53(reference, tmp_path):
    ref_dir, _, ref_state, _ = reference
    ft = recipe(steps=3, schedule="constant", learning_rate=1e-3, warmup_steps=0, checkpoint_period=1)
    like = jax.eval_shape(lambda: like_state(ft))
    pre, meta = load_params(ref_dir, like)
    assert_trees_equal(pre.params, ref_state.params)
    assert int(factored_state(pre.opt_state).count) == N  # Adafactor's counter is restored, not reset
    init = TrainState.create(pre.params, pre.opt_state)
    summary = train(model=MODEL, train_cfg=ft, batches=batch_stream(1), workdir=tmp_path / "ft", seed=SEED,
                    init_state=init, start_step=meta["global_step"])
    assert summary["global_step"] == N + 3 and summary["start_step"] == N
    state, ft_meta = final_state(tmp_path / "ft")
    assert int(state.step) == 3 and ft_meta["global_step"] == N + 3
    assert int(factored_state(state.opt_state).count) == N + 3  # decay uses t = pretrain + s (M42)
    assert sorted(Checkpointer(tmp_path / "ft", period=1).all_steps()) == [1, 2, 3]  # keep all (M86)
    # the dropout RNG is folded with the global step (M83): another start step gives other masks
    other = train(model=MODEL, train_cfg=ft, batches=batch_stream(1), workdir=tmp_path / "ft0", seed=SEED,
                  init_state=init, start_step=0)
    assert other["final_loss"] != summary["final_loss"]


def test_trainable_mask_and_keep_checkpoints(tmp_path):
    init = init_model_params(MODEL, jax.random.split(jax.random.PRNGKey(SEED))[0])
    mask = all_trainable(init)
    mask["embed"]["embedding"] = False
    train(model=MODEL, train_cfg=recipe(steps=6, checkpoint_period=2, keep_checkpoints=2), batches=batch_stream(0),
          workdir=tmp_path, seed=SEED, trainable_mask=mask)
    state, _ = final_state(tmp_path)
    np.testing.assert_array_equal(state.params["embed"]["embedding"], init["embed"]["embedding"])  # M44
    assert not np.array_equal(state.params["wi"]["kernel"], init["wi"]["kernel"])
    assert Checkpointer(tmp_path, period=1).all_steps() == [4, 6]


def test_train_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown training config key"):
        TrainConfig.from_cfg({"steps": 1, "batch_size": 1, "lr": 3})


@pytest.mark.parametrize("override, message", [
    ("pretrain.batch_size=0", "pretrain.batch_size must be >= 1"),
    ("finetune.checkpoint_period=0", "finetune.checkpoint_period must be >= 1"),
    ("pretrain.steps=-1", "pretrain.steps must be >= 0"),
    ("finetune.schedule=cosine", "finetune.schedule must be rsqrt"),
    ("finetune.learning_rate=0", "finetune.learning_rate must be > 0"),
    ("pretrain.keep_checkpoints=0", "pretrain.keep_checkpoints must be >= 1"),
])
def test_train_config_errors_name_the_key(override, message):
    from t5repro import config as config_lib

    cfg = config_lib.load([override])
    phase = override.split(".")[0]
    with pytest.raises(config_lib.ConfigError, match=message):
        TrainConfig.from_cfg(cfg[phase])
    TrainConfig.from_cfg(config_lib.load([])[phase])  # the defaults pass


def test_train_config_unknown_key_names_the_phase():
    with pytest.raises(ValueError, match="finetune.lr"):
        TrainConfig.from_cfg({"steps": 1, "batch_size": 1, "lr": 3}, phase="finetune")
