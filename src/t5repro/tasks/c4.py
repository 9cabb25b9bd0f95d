"""C4 pre-training Tasks (§3.1.4 baseline, §3.3 objectives; spec D40-D48, D72): C4 shards -> text -> tokens ->
objective -> EOS, one Task per `objective.name`."""

from __future__ import annotations

import functools
import inspect
import logging
import math
from typing import Callable, Optional

import seqio
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

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


def c4_tokenized_source(tokenized_dir: str) -> seqio.TFExampleDataSource:
    """`c4-tokenize`'s `{split}-*.tfrecord` (pages as int64 `targets` ids, no EOS) as a seqio source."""
    return seqio.TFExampleDataSource(
        split_to_filepattern={split: f"{tokenized_dir}/{split}-*.tfrecord" for split in SPLITS},
        feature_description={"targets": tf.io.RaggedFeature(tf.int64)},
    )


def _int32_targets(ds: tf.data.Dataset) -> tf.data.Dataset:
    """The stored int64 ids as the int32 `targets` that `seqio.preprocessors.tokenize` yields (D43)."""
    return ds.map(lambda ex: {"targets": tf.cast(ex["targets"], tf.int32)}, num_parallel_calls=tf.data.AUTOTUNE)


# Keys of conf/objective/*.yaml that are not arguments of the preprocessor.
OBJECTIVE_META_KEYS = ("name", "targets_length_ratio")


def objective_preprocessor(objective_cfg: DictConfig) -> Callable:
    """The token preprocessor of `objective.name` (D72 catalogue) with the other `objective.*` keys as its
    arguments; an unknown name or key raises naming it."""
    name = str(objective_cfg.name)
    if name not in objectives.OBJECTIVES:
        raise config_lib.ConfigError(
            f"objective.name={name!r} is not a pre-training objective (known: {', '.join(sorted(objectives.OBJECTIVES))})")
    fn = objectives.OBJECTIVES[name]
    params = inspect.signature(fn).parameters
    kwargs = {}
    for key, value in objective_cfg.items():
        if key in OBJECTIVE_META_KEYS:
            continue
        if key not in params or params[key].kind is not inspect.Parameter.KEYWORD_ONLY:
            known = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY]
            raise config_lib.ConfigError(f"objective.{key} is not an argument of objective {name!r} "
                                         f"(its keys: {', '.join(known) or 'none'})")
        kwargs[str(key)] = float(value) if isinstance(value, (int, float)) else value
    return functools.partial(fn, **kwargs)


def objective_targets_length(objective_cfg: DictConfig, inputs_length: int) -> Optional[int]:
    """The targets length the objective needs for `inputs_length` (D47/D48), or None when it sets none.

    span_corruption: D47's `random_spans_helper` (114 for 512 at mu = 3, 14 for 64). Other objectives:
    ceil(objective.targets_length_ratio x inputs_length), the ratio being D48's paper targets length / 512
    (i.i.d. 15 %: 192/512 = 0.375, which gives smoke's 24 for 64 inputs).
    """
    name = str(objective_cfg.name)
    if name == "span_corruption":
        return objectives.random_spans_helper(int(inputs_length), float(objective_cfg.get("noise_density", 0.15)),
                                              float(objective_cfg.get("mean_noise_span_length", 3.0)))[1]
    ratio = objective_cfg.get("targets_length_ratio")
    return None if ratio is None else int(math.ceil(float(ratio) * int(inputs_length)))


def pretraining_sequence_length(cfg: DictConfig) -> dict[str, int]:
    """`pretrain.sequence_length` with targets replaced by the objective's own length (D48) when it has one.

    The objective decides the targets length (as T5's objective gins do) because the scale group, applied
    before `experiment`, fixes `pretrain.sequence_length`; a ratio of the inputs length holds at every scale.
    """
    lengths = {k: int(v) for k, v in dict(cfg.pretrain.sequence_length).items()}
    needed = objective_targets_length(cfg.objective, lengths["inputs"])
    if needed is not None:
        lengths["targets"] = needed
    return lengths


def pretraining_task_name(cfg: DictConfig) -> str:
    """Task name `{data.name}_{objective.name}`, e.g. c4_iid_denoising."""
    return f"{cfg.data.name}_{cfg.objective.name}"


def register_pretraining_task(cfg: DictConfig) -> str:
    """Register the unsupervised C4 Task: rekey (D42) -> tokenize (D43) -> objective (D44-D72) -> EOS (D43)."""
    vocab_model = str(config_lib.require_path(cfg, "io.vocab_model"))
    objective = objective_preprocessor(cfg.objective)
    name = str(cfg.objective.name)
    arch = str(OmegaConf.select(cfg, "arch.name", default="encoder_decoder"))
    from t5repro.models.architectures import get_architecture  # names the key for an unknown arch

    if name in objectives.DECODER_ONLY_OBJECTIVES and not get_architecture(arch).decoder_only:
        raise config_lib.ConfigError(
            f"objective.name={name!r} yields targets only, for a decoder-only model (spec D51/D72), but "
            f"arch.name={arch!r} is an encoder-decoder; use arch=decoder_only_lm (Table 2, §3.2)")
    configured = OmegaConf.select(cfg, "pretrain.sequence_length")
    if configured is not None:
        needed = objective_targets_length(cfg.objective, int(configured.inputs))
        if needed is not None and int(configured.targets) < needed:
            logger.warning("objective %s needs targets length %d for inputs %d (spec D47/D48) but "
                           "pretrain.sequence_length.targets=%d: longer targets will be truncated",
                           name, needed, int(configured.inputs), int(configured.targets))
    if OmegaConf.select(cfg, "data.pretokenized", default=False):  # ids written once by `c4-tokenize`
        source = c4_tokenized_source(str(config_lib.require_path(cfg, "io.c4_tokenized_dir")))
        text_to_ids = [_int32_targets]
        name = pretraining_task_name(cfg) + "_pretokenized"
    else:
        source = c4_source(str(config_lib.require_path(cfg, "io.c4_dir")))
        text_to_ids = [functools.partial(seqio.preprocessors.rekey, key_map={"inputs": None, "targets": "text"}),
                       seqio.preprocessors.tokenize]  # D42, D43
        name = pretraining_task_name(cfg)
    return add_task(
        name,
        source=source,
        preprocessors=[
            *text_to_ids,
            objective,  # D44-D47, D60-D72
            seqio.preprocessors.append_eos_after_trim,  # D43
        ],
        output_features=output_features(vocab_model, int(cfg.vocab.extra_ids)),
        metric_fns=[],
    )
