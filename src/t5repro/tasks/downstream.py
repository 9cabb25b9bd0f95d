"""Downstream Tasks in the paper's text-to-text format (§2.4; spec D80, D81, D86, D88, D100-D103).

`task.source == "generated"`: JSON lines `io.task_data_dir/{task}/{split}.jsonl` written by `t5repro taskdata`
with the TFDS feature schema of the task they stand in for; `task.source == "tfds"`: the TFDS data set.
Both go through the same formatting, so smoke and paper scale share code. Postprocessors and metrics come
from `t5repro.evaluate` (D88, D101, D103).
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf
from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro.tasks import add_task, json_lines_reader, output_features

logger = logging.getLogger(__name__)

GENERATED_SPLITS = ("train", "validation")
TFDS_SPLITS = ("train", "validation", "test")


# ----------------------------------------------------------------- formats (D80, D81)

# TFDS feature schemas of the tasks the generated data imitate (glue/sst2, cnn_dailymail), keyed by the
# benchmark prefix the paper writes in front of the inputs.
SCHEMAS: dict[str, dict[str, tf.DType]] = {
    "sst2": {"idx": tf.int32, "label": tf.int64, "sentence": tf.string},
    "summarize": {"id": tf.string, "article": tf.string, "highlights": tf.string},
}
GLUE_TEXT_KEYS: dict[str, tuple[str, ...]] = {"sst2": ("sentence",)}


@seqio.map_over_dataset
def glue_text_to_text(x: dict, benchmark: str, label_classes: Sequence[str], text_keys: Sequence[str]) -> dict:
    """`{benchmark} k1: v1 k2: v2 ...` (keys sorted, D80) -> label_classes[label]; label -1 -> `<unk>`."""
    parts: list = [benchmark]
    for key in sorted(text_keys):  # spec D80 / C9: alphabetical order
        parts += [f"{key}:", x[key]]
    label = tf.cast(x["label"], tf.int32)
    classes = tf.constant(list(label_classes))
    target = tf.where(label < 0, tf.constant("<unk>"), tf.gather(classes, tf.maximum(label, 0)))
    out = {"inputs": tf.strings.join(parts, separator=" "), "targets": target, "label": x["label"]}
    if "idx" in x:
        out["idx"] = x["idx"]  # kept for submission (D80)
    return out


@seqio.map_over_dataset
def summarize_text_to_text(x: dict, prefix: str = "summarize") -> dict:
    """`summarize: {article}` -> highlights (D81 CNN/DM)."""
    return {"inputs": tf.strings.join([f"{prefix}:", x["article"]], separator=" "), "targets": x["highlights"]}


def text_preprocessor(task_cfg: DictConfig) -> Callable:
    """The D80/D81 formatting function for `task.prefix`; unknown prefixes raise naming the task."""
    prefix = str(task_cfg.prefix)
    if task_cfg.label_classes is not None:
        if prefix not in GLUE_TEXT_KEYS:
            raise config_lib.ConfigError(
                f"task.name={task_cfg.name!r}: no GLUE-style format known for task.prefix={prefix!r} "
                f"(known: {sorted(GLUE_TEXT_KEYS)})")
        return functools.partial(glue_text_to_text, benchmark=prefix, label_classes=list(task_cfg.label_classes),
                                 text_keys=GLUE_TEXT_KEYS[prefix])
    if prefix == "summarize":
        return functools.partial(summarize_text_to_text, prefix=prefix)
    raise config_lib.ConfigError(f"task.name={task_cfg.name!r}: no text-to-text format for task.prefix={prefix!r}")


# ----------------------------------------------------------------- postprocessing and metrics (D88, D101, D103)


def metric_fns(task_cfg: DictConfig) -> list[Callable]:
    """The metric function of `task.metric` (D101), from t5repro.evaluate.metrics; unknown names raise."""
    from t5repro.evaluate import metrics

    try:
        fn, _ = metrics.get_metric(str(task_cfg.metric))
    except ValueError as e:
        raise config_lib.ConfigError(f"task.name={task_cfg.name!r}: {e}") from None
    return [fn]


def postprocess_fn(task_cfg: DictConfig) -> Callable:
    """D88 postprocessor (label text -> class id, or identity), accepting seqio's `example=`/`is_target=` kwargs."""
    from t5repro.evaluate import postprocess

    fn = postprocess.postprocessor(None if task_cfg.label_classes is None else list(task_cfg.label_classes))

    def apply(decoded, **unused):
        return fn(decoded)

    return apply


# ----------------------------------------------------------------- sources and registration


def generated_source(task_dir: str, prefix: str) -> seqio.FileDataSource:
    """JSON lines `{task_dir}/{split}.jsonl` written by `t5repro taskdata`, with the TFDS schema of `prefix`."""
    return seqio.FileDataSource(
        read_file_fn=json_lines_reader(SCHEMAS[prefix], gzip=False),
        split_to_filepattern={split: f"{task_dir}/{split}.jsonl" for split in GENERATED_SPLITS},
    )


def data_source(cfg: DictConfig) -> seqio.DataSource:
    """The task's source: generated JSON lines (smoke) or TFDS (paper); builds lazily, downloads nothing."""
    task = cfg.task
    if task.source == "generated":
        if str(task.prefix) not in SCHEMAS:
            raise config_lib.ConfigError(f"task.name={task.name!r}: no generated schema for prefix {task.prefix!r}")
        task_dir = config_lib.require_path(cfg, "io.task_data_dir") / str(task.name)
        return generated_source(str(task_dir), str(task.prefix))
    if task.source == "tfds":
        tfds_name = config_lib.require(cfg, "task.tfds_name")
        tfds_dir = cfg.io.get("tfds_dir")
        return seqio.TfdsDataSource(tfds_name=str(tfds_name), tfds_data_dir=str(tfds_dir) if tfds_dir else None,
                                    splits=TFDS_SPLITS)
    raise config_lib.ConfigError(f"task.source={task.source!r} unknown (generated | tfds)")


def check_label_lengths(task_cfg: DictConfig, features: Mapping[str, seqio.Feature]) -> None:
    """Warn when a class label plus EOS does not fit task.sequence_length.targets (it would be truncated, D43)."""
    if task_cfg.label_classes is None:
        return
    vocabulary = features["targets"].vocabulary
    limit = int(task_cfg.sequence_length.targets)
    for label in task_cfg.label_classes:
        n = len(vocabulary.encode(str(label))) + 1
        if n > limit:
            logger.warning("task %s: label %r is %d tokens with EOS > task.sequence_length.targets=%d; it will be "
                           "truncated and never predicted exactly", task_cfg.name, label, n, limit)


def register_downstream_task(cfg: DictConfig) -> str:
    """Register `cfg.task` as a seqio Task named task.name: format (D80/D81) -> tokenize (D43) -> EOS (D43)."""
    vocab_model = str(config_lib.require_path(cfg, "io.vocab_model"))
    features = output_features(vocab_model, int(cfg.vocab.extra_ids))
    check_label_lengths(cfg.task, features)
    return add_task(
        str(cfg.task.name),
        source=data_source(cfg),
        preprocessors=[
            text_preprocessor(cfg.task),
            seqio.preprocessors.tokenize,  # keeps `targets_pretokenized` for metrics (D43, D100)
            seqio.preprocessors.append_eos_after_trim,
        ],
        output_features=features,
        postprocess_fn=postprocess_fn(cfg.task),
        metric_fns=metric_fns(cfg.task),
    )
