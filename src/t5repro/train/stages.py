"""The `t5repro pretrain` and `t5repro finetune` CLI stages (paper §3.1.2; spec model.md M42, M52, M53).

Each stage builds the T5 model, registers its seqio Task, and calls `trainer.train` on a workdir that
is also the resume key: rerunning the same command continues from the latest complete checkpoint. The
workdir is a Snakemake `directory()` output and is NOT built atomically (its checkpoints must survive an
interruption); `summary.json` is written last and atomically, so its presence marks success.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import shutil
from pathlib import Path
from typing import Any

import jax
import yaml
from omegaconf import DictConfig, OmegaConf

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro.train import finetune_methods
from t5repro.train.checkpoint import latest_step, load_params
from t5repro.train.partitioning import Partitioner
from t5repro.train.state import TrainState
from t5repro.train.trainer import TrainConfig, fresh_state, is_primary, state_layout, train

log = logging.getLogger(__name__)

FINETUNE_METHODS = finetune_methods.METHODS  # §3.5.1, Table 10


def _module(name: str) -> Any:
    return importlib.import_module(name)  # looked up at call time (tests may substitute the Data modules)


def _lengths(node: Any) -> dict[str, int]:
    return {"inputs": int(node["inputs"]), "targets": int(node["targets"])}


def build_model(cfg: DictConfig, *, finetuning: bool = False) -> Any:
    """The `cfg.arch.name` model of Table 2 (§3.2) sized by `cfg.model`, vocabulary rows = pieces + extra ids
    rounded up to 128 (M1, D33, D36).

    `finetuning=True` builds the model that `cfg.finetune_method` fine-tunes (adapters add sub-layers, M55).
    """
    models = _module("t5repro.models")
    arch_name = config_lib.require(cfg, "arch.name")
    models.get_architecture(arch_name)  # ConfigError naming arch.name, before the vocabulary is read
    vocabulary = _module("t5repro.vocab").get_vocabulary(config_lib.require_path(cfg, "io.vocab_model"),
                                                          int(cfg.vocab.extra_ids))
    config = models.T5Config.from_cfg(cfg.model, vocab_size=int(vocabulary.vocab_size))
    if finetuning:
        config = finetune_methods.model_config(config, cfg.finetune_method)
    return models.build_model(arch_name, config)


def _training_flops(cfg: DictConfig, model: Any, lengths: dict[str, int]) -> float:
    """Spec M30's training FLOPs of one (inputs, targets) example of the `arch.name` model, adapters included
    when fine-tuning adds them (for M89's model FLOP/s and MFU)."""
    models = _module("t5repro.models")
    config = models.T5Config.from_cfg(cfg.model, vocab_size=model.config.vocab_size)  # before the arch's changes
    config = config.replace(adapter_dim=model.config.adapter_dim)  # fine-tuning's adapters (M55), if any
    return models.flops_per_example(config, int(lengths["inputs"]), int(lengths["targets"]),
                                    arch=cfg.arch.name)["training"]


def _write_provenance(workdir: Path, cfg: DictConfig, extra: dict[str, Any]) -> None:
    """Resolved config and run metadata beside the checkpoints (t5x config.gin; STYLE 'Provenance')."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not is_primary():  # one writer per shared file (several processes, spec M85)
        return
    io_lib.write_text(workdir / "config.yaml", config_lib.to_yaml(cfg))
    io_lib.write_json(workdir / "metadata.json", io_lib.run_metadata({
        "stage": cfg.get("stage"), "scale": cfg.scale_name, "experiment": cfg.experiment_name, "seed": int(cfg.seed),
        "devices": [str(d) for d in jax.devices()], **extra}))


def _partitioner(cfg: DictConfig, tcfg: TrainConfig, phase: str) -> Partitioner:
    """The ('data', 'model') mesh of `cfg.partitioning`, checked against the phase's batch (spec M78, M81)."""
    part = Partitioner.create(cfg.get("partitioning"))
    part.check_batch_size(tcfg.batch_size, key=f"{phase}.batch_size")
    log.info("mesh %s (partitioning.model_parallelism=%d)", dict(part.mesh.shape), part.n_model)
    return part


def _input_shard(data: Any, part: Partitioner, tcfg: TrainConfig, phase: str) -> dict[str, Any]:
    """get_batches arguments for this process's share of each global batch (spec M85): its disjoint part
    of the data and batch_size / shares rows; on one process, everything (no sharding)."""
    key = f"{phase}.batch_size"
    index, count = part.input_shard(tcfg.batch_size, key=key)
    if count == 1:
        return {"batch_size": tcfg.batch_size}
    log.info("process %d of %d reads input share %d of %d (%d rows per batch)", jax.process_index(),
             jax.process_count(), index, count, tcfg.batch_size // count)
    return {"batch_size": tcfg.batch_size, "shard_info": data.input_shard(index, count), "batch_size_key": key}


def _export(cfg: DictConfig, workdir: Path) -> None:
    """Copy metrics.csv / summary.json to io.metrics_csv / io.summary_json when Snakemake asks for them."""
    if not is_primary():
        return
    for key, name in (("metrics_csv", "metrics.csv"), ("summary_json", "summary.json")):
        dest = cfg.io.get(key)
        if dest:
            with io_lib.atomic_path(dest) as tmp:
                shutil.copyfile(workdir / name, tmp)


def run_key(cfg: DictConfig, *inputs: Path) -> str:
    """What a workdir's state was computed from: the resolved config and the bytes of upstream results.

    Output-only paths (io.metrics_csv, io.summary_json) are left out, so copying results elsewhere
    does not change the key.
    """
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for key in ("metrics_csv", "summary_json"):
        resolved["io"].pop(key, None)
    h = hashlib.sha256(yaml.safe_dump(resolved, sort_keys=True).encode())
    for path in inputs:
        h.update(path.read_bytes())
    return h.hexdigest()


def prepare_workdir(workdir: Path, key: str) -> bool:
    """Make `workdir` safe to resume; return True if it already holds the finished run for `key`.

    The workdir is the resume key of an *interrupted* run. State left by a finished run, or by a run
    with another configuration or other upstream results (Snakemake reruns a job when its inputs
    change), is stale: it is removed, with a warning, so training starts fresh.
    """
    key_file = workdir / "run_key.txt"
    if workdir.exists():
        old = key_file.read_text().strip() if key_file.is_file() else None
        finished = (workdir / "summary.json").is_file()
        if old == key and finished:
            log.info("%s already holds this finished run; nothing to train", workdir)
            return True
        if old == key:
            log.info("resuming the interrupted run in %s", workdir)
            return False
        if any(workdir.iterdir()):
            log.warning("removing stale state in %s (%s)", workdir,
                        "another configuration or other inputs" if old else "no run key")
            shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    io_lib.write_text(key_file, key + "\n")
    return False


def pretrain_recipe(cfg: DictConfig) -> TrainConfig:
    """The `pretrain` recipe; for §3.5.2 multi-task training (M63) it runs pretrain.steps + finetune.steps on
    the mixture with the pre-training schedule (M49) and keeps every checkpoint for per-task selection (M52)."""
    tcfg = TrainConfig.from_cfg(cfg.pretrain)
    if not cfg.get("multitask_training"):
        return tcfg
    if cfg.get("mixture") is None:
        raise config_lib.ConfigError("multitask_training=true trains on a mixture: set mixture=... "
                                     "(conf/mixture/, spec M63)")
    steps = tcfg.steps + TrainConfig.from_cfg(cfg.finetune).steps  # 2^19 + 2^18 = 786,432 at paper scale
    return dataclasses.replace(tcfg, steps=steps, keep_checkpoints=None)


def pretrain(cfg: DictConfig) -> None:
    """Pre-train the `arch` model on the objective (or `mixture`) into `io.pretrain_dir` (M46, M49, M52, M63)."""
    workdir = config_lib.require_path(cfg, "io.pretrain_dir")
    tcfg = pretrain_recipe(cfg)
    model = build_model(cfg)
    part = _partitioner(cfg, tcfg, "pretrain")
    state_layout(model, tcfg, part)  # spec M81: divisibility errors before any work
    if prepare_workdir(workdir, run_key(cfg)):
        _export(cfg, workdir)
        return
    tasks = _module("t5repro.tasks")
    # §3.5.3: multi-task pre-training trains on a Mixture (C4 objective + supervised tasks) instead of C4 alone.
    task = tasks.register_mixture(cfg) if cfg.get("mixture") is not None else tasks.register_pretraining_task(cfg)
    _write_provenance(workdir, cfg, {"task": task, "phase": "pretrain", "mesh": dict(part.mesh.shape)})
    # The objective decides its targets length (D48: 192 for the i.i.d. baseline, 114 for span corruption...).
    lengths = tasks.pretraining_sequence_length(cfg)
    data = _module("t5repro.data")
    batches = data.get_batches(task, split="train", sequence_length=lengths, pack=tcfg.pack, seed=int(cfg.seed),
                               converter=data.feature_converter_from_cfg(cfg.arch, pack=tcfg.pack),  # §3.2
                               **_input_shard(data, part, tcfg, "pretrain"))  # spec M85
    train(model=model, train_cfg=tcfg, batches=batches, workdir=workdir, seed=int(cfg.seed), partitioning=part,
          flops_per_example=_training_flops(cfg, model, lengths))
    _export(cfg, workdir)


def finetune(cfg: DictConfig) -> None:
    """Fine-tune the final pre-training checkpoint (params AND Adafactor state, M42/M53) on `cfg.task`.

    Fine-tuning step s runs at global step `pretrain_steps + s` (M42); the `finetune` recipe sets the
    schedule (constant 1e-3, M48), steps and checkpoint cadence (every checkpoint kept, M52/M86).

    `cfg.finetune_method` (§3.5.1, finetune_methods.py) picks the trainable set. With adapters the
    fine-tuned model has parameters the pre-trained one lacks: they (and their Adafactor statistics)
    are initialised fresh from the seed, everything else is restored from pre-training (M53, M57).
    """
    finetune_methods.method_name(cfg.finetune_method)  # ConfigError naming the key, before any work
    if cfg.get("multitask_training"):
        raise config_lib.ConfigError("multitask_training=true evaluates the multi-task run's own checkpoints "
                                     "(spec M63): there is no per-task fine-tuning; run `evaluate` with "
                                     "io.finetune_dir set to the pre-training workdir")
    pretrain_dir = config_lib.require_path(cfg, "io.pretrain_dir")
    workdir = config_lib.require_path(cfg, "io.finetune_dir")
    tcfg = TrainConfig.from_cfg(cfg.finetune)
    if not (pretrain_dir / "summary.json").is_file():  # M53: start from the *final* pre-training checkpoint
        raise FileNotFoundError(f"pre-training in {pretrain_dir} has not finished (no summary.json); "
                                "rerun `t5repro pretrain` with the same io.pretrain_dir to complete it")
    if prepare_workdir(workdir, run_key(cfg, pretrain_dir / "summary.json")):
        _export(cfg, workdir)
        return
    base_model = build_model(cfg)
    model = build_model(cfg, finetuning=True)
    task = _module("t5repro.tasks").register_downstream_task(cfg)
    seed = int(cfg.seed)

    # Same optimiser-state structure as pre-training (optim.py); restored onto this run's mesh (M86).
    part = _partitioner(cfg, tcfg, "finetune")
    layout = state_layout(model, tcfg, part)
    like = layout.abstract
    if latest_step(workdir) is None:
        if model.config == base_model.config:
            pre, meta = load_params(pretrain_dir, like, shardings=layout.shardings)
            init_state = TrainState.create(pre.params, pre.opt_state)
        else:  # new (adapter) parameters: fresh seeded init + fresh statistics for them, the rest restored
            base = state_layout(base_model, tcfg, part)
            pre, meta = load_params(pretrain_dir, base.abstract, shardings=base.shardings)
            init_state = finetune_methods.merge_pretrained(fresh_state(model, tcfg, part, seed),
                                                           TrainState.create(pre.params, pre.opt_state))
            del pre
        start_step: int | None = int(meta["global_step"])
    else:  # resuming: the workdir's own checkpoint supplies state and start step; skip the pre-training load
        init_state, start_step = like, None
    mask = finetune_methods.mask_for_training(like.params, cfg.finetune_method, total_steps=tcfg.steps)
    _write_provenance(workdir, cfg, {
        "task": task, "phase": "finetune", "pretrain_dir": str(pretrain_dir), "mesh": dict(part.mesh.shape),
        "finetune_method": finetune_methods.describe(like.params, cfg.finetune_method, total_steps=tcfg.steps)})
    data = _module("t5repro.data")
    batches = data.get_batches(task, split="train", sequence_length=_lengths(cfg.task.sequence_length),
                               pack=tcfg.pack, seed=seed,
                               converter=data.feature_converter_from_cfg(cfg.arch, pack=tcfg.pack),  # §3.2
                               **_input_shard(data, part, tcfg, "finetune"))  # spec M85
    train(model=model, train_cfg=tcfg, batches=batches, workdir=workdir, seed=seed, init_state=init_state,
          start_step=start_step, trainable_mask=mask, partitioning=part,
          flops_per_example=_training_flops(cfg, model, _lengths(cfg.task.sequence_length)))
    _export(cfg, workdir)

