"""`t5repro pretrain` / `finetune` stages wired to stand-in Data modules (the real T5 model, fake vocabulary,
tasks and batches): workdir layout, exported copies, fine-tuning continuing the global step (M42, M53)."""

from __future__ import annotations

import json

import jax
import pytest
import yaml

from t5repro import config as config_lib
from t5repro.models import flops_per_example
from t5repro.train import stages
from t5repro.train.checkpoint import load_params
from t5repro.train.optim import factored_state, make_optimizer
from t5repro.train.schedules import make_schedule
from t5repro.train.state import TrainState
from t5repro.train.trainer import TrainConfig, init_model_params
from tests.train.stand_in import data_modules


@pytest.fixture
def fake_data(monkeypatch):
    """Replace t5repro.vocab / tasks / data with recorders (the stage looks them up at call time)."""
    calls: list[tuple] = []
    for name, mod in data_modules(calls).items():
        monkeypatch.setitem(__import__("sys").modules, name, mod)
    return calls


def make_cfg(tmp_path, *extra):
    cfg = config_lib.load([f"io.vocab_model={tmp_path / 'spm.model'}", f"io.pretrain_dir={tmp_path / 'pre'}",
                           f"io.finetune_dir={tmp_path / 'ft'}", f"io.summary_json={tmp_path / 'out' / 's.json'}",
                           f"io.metrics_csv={tmp_path / 'out' / 'm.csv'}",
                           "pretrain.checkpoint_period=2", "pretrain.log_every=2", "finetune.steps=3",
                           "finetune.checkpoint_period=1", "finetune.log_every=1", *extra])
    return cfg


def like(cfg) -> TrainState:
    model = stages.build_model(cfg)
    params = init_model_params(model, jax.random.PRNGKey(0))
    return jax.eval_shape(lambda: TrainState.create(params, make_optimizer(make_schedule(
        TrainConfig.from_cfg(cfg.finetune))).init(params)))


def test_pretrain_then_finetune(tmp_path, fake_data):
    cfg = make_cfg(tmp_path, "pretrain.steps=4")
    stages.pretrain(cfg)
    pre = tmp_path / "pre"
    layout = {"checkpoints", "metrics.csv", "summary.json", "config.yaml", "metadata.json"}
    assert layout <= {p.name for p in pre.iterdir()}
    assert fake_data[-1] == ("c4_fake", "train", dict(cfg.pretrain.sequence_length), 8, True, 0)  # pretrain lengths
    assert yaml.safe_load((pre / "config.yaml").read_text())["pretrain"]["steps"] == 4
    assert json.loads((pre / "metadata.json").read_text())["versions"]["jax"]
    assert json.loads((tmp_path / "out" / "s.json").read_text())["global_step"] == 4  # exported copy
    # spec M89: model FLOP/s from M30 at the pre-training lengths (enc-dec: the model's own config)
    pre_summary = json.loads((pre / "summary.json").read_text())
    lengths = dict(cfg.pretrain.sequence_length)
    m30 = flops_per_example(stages.build_model(cfg).config, lengths["inputs"], lengths["targets"])["training"]
    assert pre_summary["model_tflops_per_s"] * 1e12 / pre_summary["examples_per_s"] == pytest.approx(m30)

    stages.finetune(cfg)
    ft = tmp_path / "ft"
    assert fake_data[-1] == ("smoke_cls_fake", "train", dict(cfg.task.sequence_length), 8, True, 0)  # task lengths
    summary = json.loads((ft / "summary.json").read_text())
    assert summary["start_step"] == 4 and summary["global_step"] == 7 and summary["checkpoint_steps"] == [1, 2, 3]
    task_lengths = dict(cfg.task.sequence_length)  # M89 for fine-tuning too, at the task's lengths
    m30_ft = flops_per_example(stages.build_model(cfg, finetuning=True).config, task_lengths["inputs"],
                               task_lengths["targets"])["training"]
    assert summary["model_tflops_per_s"] * 1e12 / summary["examples_per_s"] == pytest.approx(m30_ft)
    state, meta = load_params(ft, like(cfg))
    assert int(factored_state(state.opt_state).count) == 7  # Adafactor count continues (M42, M53)
    assert meta["global_step"] == 7 and int(state.step) == 3
    # rerunning a finished fine-tuning resumes nothing and keeps the result
    stages.finetune(cfg)
    assert json.loads((ft / "summary.json").read_text())["global_step"] == 7


def test_no_pretraining_control_finetunes_from_random_init(tmp_path, fake_data):
    cfg = make_cfg(tmp_path, "experiment=table01/no_pretraining")
    assert cfg.pretrain.steps == 0
    stages.pretrain(cfg)
    assert json.loads((tmp_path / "pre" / "summary.json").read_text())["global_step"] == 0
    stages.finetune(cfg)
    summary = json.loads((tmp_path / "ft" / "summary.json").read_text())
    assert summary["start_step"] == 0 and summary["global_step"] == 3


def test_unknown_finetune_method_and_missing_path_are_named(tmp_path, fake_data):
    with pytest.raises(config_lib.ConfigError, match=r"finetune_method\.name.*'bogus'"):
        stages.finetune(make_cfg(tmp_path, "finetune_method.name=bogus"))
    with pytest.raises(config_lib.ConfigError, match="io.pretrain_dir"):
        stages.pretrain(make_cfg(tmp_path, "io.pretrain_dir=null"))


def test_prepare_workdir_resumes_same_key_and_clears_stale_state(tmp_path):
    """A workdir resumes only the interrupted run it was started for; finished or foreign state is stale."""
    from t5repro.train.stages import prepare_workdir

    wd = tmp_path / "wd"
    assert prepare_workdir(wd, "k1") is False  # fresh
    (wd / "checkpoints").mkdir()
    (wd / "checkpoints" / "marker").write_text("x")
    assert prepare_workdir(wd, "k1") is False  # interrupted run, same key: resume, state kept
    assert (wd / "checkpoints" / "marker").exists()
    (wd / "summary.json").write_text("{}")
    assert prepare_workdir(wd, "k1") is True  # finished with the same key: nothing to do
    assert prepare_workdir(wd, "k2") is False  # other config or inputs: stale, removed
    assert not (wd / "checkpoints").exists() and not (wd / "summary.json").exists()
    assert (wd / "run_key.txt").read_text().strip() == "k2"


def test_run_key_tracks_config_and_upstream_bytes(tmp_path):
    from t5repro.config import load
    from t5repro.train.stages import run_key

    up = tmp_path / "summary.json"
    up.write_text('{"steps": 1}')
    base = load(["io.metrics_csv=a.csv"])
    assert run_key(base, up) == run_key(load(["io.metrics_csv=b.csv"]), up)  # output-only paths ignored
    assert run_key(base, up) != run_key(load(["finetune.steps=7"]), up)
    k = run_key(base, up)
    up.write_text('{"steps": 2}')
    assert run_key(base, up) != k
