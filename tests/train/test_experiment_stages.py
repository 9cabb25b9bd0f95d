"""Section 3 rows through the real stages: C4 -> pre-training -> fine-tuning -> evaluation, tiny sizes.

Table 2's architectures (§3.2), multi-task pre-training (§3.5.3) and multi-task training (§3.5.2, M63).

The stand-in tests (test_stages.py) pin the stage logic; these run the real seqio pipeline and models, so
a decoder-only row that got encoder-decoder batches, the wrong converter or the T5 decoder would fail here.
"""

from __future__ import annotations

import json

import pytest
import seqio

from t5repro import config as config_lib
from t5repro.train.checkpoint import all_steps
from t5repro.evaluate import predict
from t5repro.train import stages

TINY = ["pretrain.steps=4", "pretrain.batch_size=2", "pretrain.checkpoint_period=4", "pretrain.log_every=2",
        "finetune.steps=2", "finetune.batch_size=2", "finetune.checkpoint_period=2", "finetune.log_every=1",
        "evaluate.max_examples=4", "evaluate.batch_size=4", "task=smoke_gen"]


def _cfg(session_cfg, tmp_path, *extra: str):
    io = session_cfg.io
    return config_lib.load([
        f"io.c4_dir={io.c4_dir}", f"io.vocab_model={io.vocab_model}", f"io.task_data_dir={io.task_data_dir}",
        f"vocab.size={session_cfg.vocab.size}", f"io.pretrain_dir={tmp_path / 'pt'}",
        f"io.finetune_dir={tmp_path / 'ft'}", f"io.eval_json={tmp_path / 'eval.json'}", *TINY, *extra])


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["table02/lm_lm", "table02/prefix_lm_denoising",
                                        "table02/enc_dec_shared_lm"])
def test_table02_row_trains_and_evaluates(session_cfg, tmp_path, experiment):
    cfg = _cfg(session_cfg, tmp_path, f"experiment={experiment}")
    stages.pretrain(cfg)
    stages.finetune(cfg)
    predict.run(cfg)
    meta = json.loads((tmp_path / "pt" / "metadata.json").read_text())
    assert meta["phase"] == "pretrain"
    provenance = (tmp_path / "pt" / "config.yaml").read_text()
    assert f"name: {cfg.arch.name}" in provenance
    summary = json.loads((tmp_path / "ft" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["final_loss"] > 0
    record = json.loads((tmp_path / "eval.json").read_text())
    assert set(record["per_checkpoint"]) and record["examples"]  # decoded and scored every checkpoint


@pytest.mark.slow
def test_multitask_pretraining_reads_the_mixture(session_cfg, tmp_path):  # §3.5.3, M66
    cfg = _cfg(session_cfg, tmp_path, "mixture=multitask_pretraining")
    stages.pretrain(cfg)
    meta = json.loads((tmp_path / "pt" / "metadata.json").read_text())
    assert meta["task"].startswith("mix_examples_proportional"), meta["task"]  # not C4 alone


@pytest.mark.slow
def test_multitask_training_is_one_mixture_run_evaluated_per_task(session_cfg, tmp_path):  # §3.5.2, M63
    cfg = _cfg(session_cfg, tmp_path, "experiment=table11/equal", f"io.finetune_dir={tmp_path / 'pt'}")
    assert stages.pretrain_recipe(cfg).steps == 4 + 2  # pretrain.steps + finetune.steps (2^19 + 2^18 at paper)
    stages.pretrain(cfg)
    assert all_steps(tmp_path / "pt") == [4, 6]  # every checkpoint kept for per-task selection (M52)
    with pytest.raises(config_lib.ConfigError, match="multitask_training"):
        stages.finetune(cfg)
    predict.run(cfg)  # the evaluate stage on the mixture run's own checkpoints
    record = json.loads((tmp_path / "eval.json").read_text())
    assert sorted(map(int, record["per_checkpoint"])) == [4, 6]


def test_multitask_training_needs_a_mixture(session_cfg, tmp_path):
    cfg = _cfg(session_cfg, tmp_path, "multitask_training=true")
    with pytest.raises(config_lib.ConfigError, match="set mixture="):
        stages.pretrain_recipe(cfg)


@pytest.mark.slow
def test_leave_one_out_pretrains_without_the_task_it_fine_tunes(session_cfg, tmp_path):  # §3.5.3, M67
    cfg = _cfg(session_cfg, tmp_path, "experiment=table12/leave_one_out")  # TINY fine-tunes smoke_gen
    stages.pretrain(cfg)
    meta = json.loads((tmp_path / "pt" / "metadata.json").read_text())
    assert "_minus_smoke_gen_" in meta["task"], meta["task"]
    members = {t.name for t in seqio.get_mixture_or_task(meta["task"]).tasks}
    assert len(members) == 2 and not any("smoke_gen" in t for t in members), members  # C4 + smoke_cls
    stages.finetune(cfg)
    assert json.loads((tmp_path / "ft" / "summary.json").read_text())["steps"] == 2
