"""seqio Tasks of the reproduction: C4 pre-training (§3.1.4, §3.3), the downstream tasks (§2.3, spec §5) and
their multi-task Mixtures (§3.5.2-§3.5.3, mixtures.py).

Registration is idempotent: registering a name again replaces the Task, so one process may build tasks from
several configurations (tests, sweeps) without "already registered" errors.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Mapping

import seqio
import tensorflow as tf

logger = logging.getLogger(__name__)


def add_task(name: str, **task_kwargs) -> str:
    """Register a seqio Task under `name`, replacing any Task of that name (idempotent registration)."""
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(name, **task_kwargs)
    return name


def output_features(vocab_model: str, extra_ids: int) -> dict[str, seqio.Feature]:
    """`inputs` (add_eos, not required) and `targets` (add_eos) over the shared vocabulary (D40)."""
    from t5repro.vocab import get_vocabulary

    vocabulary = get_vocabulary(vocab_model, extra_ids)
    return {
        "inputs": seqio.Feature(vocabulary=vocabulary, add_eos=True, required=False),
        "targets": seqio.Feature(vocabulary=vocabulary, add_eos=True),
    }


def _json_fields(line: bytes, keys: tuple[str, ...], defaults: tuple) -> list:
    record = json.loads(line)
    return [record.get(k, d) if record.get(k) is not None else d for k, d in zip(keys, defaults)]


_DEFAULTS = {tf.string: "", tf.int64: -1, tf.int32: -1, tf.float32: 0.0}


def parse_json_lines(lines: tf.data.Dataset, schema: Mapping[str, tf.DType]) -> tf.data.Dataset:
    """Decode a dataset of JSON lines into dicts of scalars with the given feature schema (missing/null -> default)."""
    keys = tuple(schema)
    dtypes = [schema[k] for k in keys]
    defaults = tuple(_DEFAULTS[d] for d in dtypes)

    def decode(line: tf.Tensor) -> dict[str, tf.Tensor]:
        values = tf.py_function(lambda s: _json_fields(s.numpy(), keys, defaults), [line], Tout=dtypes)
        out = {}
        for k, v in zip(keys, values):
            v.set_shape([])
            out[k] = v
        return out

    return lines.map(decode, num_parallel_calls=tf.data.AUTOTUNE)


def json_lines_reader(schema: Mapping[str, tf.DType], *, gzip: bool) -> Callable[[tf.Tensor], tf.data.Dataset]:
    """A seqio.FileDataSource `read_file_fn` for (gzip'd) JSON lines with the given schema."""

    def read(path: tf.Tensor) -> tf.data.Dataset:
        lines = tf.data.TextLineDataset(path, compression_type="GZIP" if gzip else "")
        return parse_json_lines(lines, schema)

    return read


def register_pretraining_task(cfg) -> str:
    """Register the C4 pre-training Task of `cfg.objective` (D41/D72) and return its name."""
    from t5repro.tasks.c4 import register_pretraining_task as register

    return register(cfg)


def pretraining_sequence_length(cfg) -> dict[str, int]:
    """Input and targets lengths of pre-training batches: the objective sets the targets length (D48)."""
    from t5repro.tasks.c4 import pretraining_sequence_length as lengths

    return lengths(cfg)


def register_downstream_task(cfg) -> str:
    """Register the downstream Task of `cfg.task` in the paper's text-to-text format (D80/D81)."""
    from t5repro.tasks.downstream import register_downstream_task as register

    return register(cfg)


def register_mixture(cfg) -> str:
    """Register the §3.5.2/§3.5.3 multi-task Mixture of `cfg.mixture` and its member Tasks (M63-M68, D110-D113)."""
    from t5repro.tasks.mixtures import register_mixture as register

    return register(cfg)


__all__ = ["add_task", "output_features", "parse_json_lines", "json_lines_reader", "register_pretraining_task",
           "pretraining_sequence_length", "register_downstream_task", "register_mixture"]

