"""C4 pre-training Task (§3.1.4 baseline; spec D40-D47, D72): C4 shards -> text -> tokens -> objective -> EOS."""

from __future__ import annotations

import functools
import logging
from typing import Callable

import seqio
import tensorflow as tf
from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import objectives
from t5repro.tasks import add_task, json_lines_reader, output_features

logger = logging.getLogger(__name__)

C4_SCHEMA = {"text": tf.string}  # spec D17: only `text` is used for pre-training
SPLITS = ("train", "validation")


def c4_source(c4_dir: str) -> seqio.FileDataSource:
    """C4 shards `{split}-*.jsonl.gz` in c4_dir as a seqio source yielding {"text"} (D17)."""
    return seqio.FileDataSource(
        read_file_fn=json_lines_reader(C4_SCHEMA, gzip=True),
        split_to_filepattern={split: f"{c4_dir}/{split}-*.jsonl.gz" for split in SPLITS},
    )


def objective_preprocessor(objective_cfg: DictConfig) -> Callable:
    """The token preprocessor of `objective.name` (D72 catalogue); unknown names raise naming the key."""
    name = str(objective_cfg.name)
    d = float(objective_cfg.get("noise_density", 0.15))
    if name == "iid_denoising":
        return functools.partial(objectives.iid_denoising, noise_density=d)
    if name == "span_corruption":
        mu = float(objective_cfg.get("mean_noise_span_length", 3.0))
        return functools.partial(objectives.span_corruption, noise_density=d, mean_noise_span_length=mu)
    raise config_lib.ConfigError(
        f"objective.name={name!r} is not implemented yet for pre-training (known: iid_denoising, span_corruption)")


def pretraining_task_name(cfg: DictConfig) -> str:
    """Task name `{data.name}_{objective.name}`, e.g. c4_iid_denoising."""
    return f"{cfg.data.name}_{cfg.objective.name}"


def register_pretraining_task(cfg: DictConfig) -> str:
    """Register the unsupervised C4 Task: rekey (D42) -> tokenize (D43) -> objective (D44-D72) -> EOS (D43)."""
    c4_dir = str(config_lib.require_path(cfg, "io.c4_dir"))
    vocab_model = str(config_lib.require_path(cfg, "io.vocab_model"))
    objective = objective_preprocessor(cfg.objective)
    return add_task(
        pretraining_task_name(cfg),
        source=c4_source(c4_dir),
        preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"inputs": None, "targets": "text"}),  # D42
            seqio.preprocessors.tokenize,  # D43
            objective,  # D44-D47, D60-D72
            seqio.preprocessors.append_eos_after_trim,  # D43
        ],
        output_features=output_features(vocab_model, int(cfg.vocab.extra_ids)),
        metric_fns=[],
    )
