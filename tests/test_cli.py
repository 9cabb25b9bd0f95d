"""The `t5repro` CLI and Hydra configuration: unknown keys are named, every group composes, paper values hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from t5repro import config as config_lib
from t5repro.cli import STAGES, main

CONF = Path(__file__).resolve().parents[1] / "conf"


def test_unknown_key_is_named_with_suggestion(caplog):
    rc = main(["config", "model.d_modle=3"])
    assert rc == 2
    assert "unknown config key 'model.d_modle'" in caplog.text
    assert "model.d_model" in caplog.text  # did-you-mean in the message itself (STYLE.md §1)


def test_plus_prefixed_unknown_key_is_refused():
    # Hydra alone accepts `+foo=1` and drops it silently later; we refuse it (STYLE.md §5).
    with pytest.raises(config_lib.ConfigError, match="'foo'"):
        config_lib.load(["+foo=1"])


def test_plus_prefixed_known_key_is_accepted():
    assert config_lib.load(["+seed=7"]).seed == 7


def test_missing_required_path_names_key():
    cfg = config_lib.load([])
    with pytest.raises(config_lib.ConfigError, match="io.c4_dir"):
        config_lib.require_path(cfg, "io.c4_dir")


# `train` is selected twice (train@pretrain, train@finetune); it is composed by every load() below.
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("experiment", "train"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_composes(group):
    for option in sorted((CONF / group).glob("*.yaml")):
        cfg = config_lib.load([f"{group}={option.stem}"])
        selected = cfg.scale_name if group == "scale" else cfg[group].name
        assert selected == option.stem, f"conf/{group}/{option.name} does not name itself"


def test_train_recipes_compose_into_both_packages():
    cfg = config_lib.load(["train@pretrain=finetune"])
    assert cfg.pretrain.schedule == "constant"


def test_every_experiment_composes_at_both_scales():
    experiments = sorted((CONF / "experiment").glob("*/*.yaml"))
    assert experiments, "no experiment files found"
    for exp in experiments:
        name = f"{exp.parent.name}/{exp.stem}"
        for scale in ("smoke", "paper"):
            cfg = config_lib.load([f"experiment={name}", f"scale={scale}"])
            assert cfg.scale_name == scale
            assert cfg.experiment_name == exp.stem


def test_paper_scale_holds_the_papers_hyperparameters():
    """§3.1.2 / spec model.md §3.4: 2^19 pre-training and 2^18 fine-tuning steps, batch 128 x 512, Base."""
    cfg = config_lib.load(["scale=paper"])
    assert cfg.pretrain.steps == 2**19
    assert cfg.finetune.steps == 2**18
    assert cfg.pretrain.batch_size == cfg.finetune.batch_size == 128
    assert cfg.pretrain.sequence_length.inputs == 512
    assert cfg.pretrain.sequence_length.targets == 192  # iid 15% baseline (spec D48, Q8)
    assert cfg.pretrain.warmup_steps == 10_000 and cfg.pretrain.schedule == "rsqrt"  # M46
    assert cfg.finetune.schedule == "constant" and cfg.finetune.learning_rate == 1e-3  # M48
    assert cfg.pretrain.checkpoint_period == cfg.finetune.checkpoint_period == 5000  # M52
    assert cfg.vocab.size == 32000 and cfg.vocab.extra_ids == 100  # D31, D33
    m = cfg.model
    assert (m.d_model, m.d_ff, m.num_heads, m.d_kv, m.num_encoder_layers, m.num_decoder_layers) == (
        768, 3072, 12, 64, 12, 12)  # Base, M1 table
    assert m.vocab_size == 32128 and m.dropout_rate == 0.1


def test_smoke_scale_is_small():
    cfg = config_lib.load([])
    assert cfg.scale_name == "smoke" and cfg.model.name == "tiny"
    assert cfg.pretrain.steps <= 1000 and cfg.pretrain.batch_size <= 16


def test_experiment_overrides_scale():
    cfg = config_lib.load(["scale=paper", "experiment=table01/no_pretraining"])
    assert cfg.pretrain.steps == 0 and cfg.finetune.steps == 2**18


def test_console_script_lists_stages():
    out = subprocess.run([sys.executable, "-m", "t5repro", "--help"], capture_output=True, text=True, check=True)
    for stage in STAGES:
        assert stage in out.stdout
