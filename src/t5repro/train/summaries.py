"""TensorBoard scalars of a training run: the metrics.csv rows as event files under `<workdir>/tensorboard/`.

STYLE "Observable runs": the same scalars as metrics.csv (loss, ce, z_loss, accuracy, learning_rate,
tokens_per_s, elapsed_s) under tags `train/<column>`, at the row's phase step (metrics.csv's `step`).

Resume (the workdir is the resume key): metrics.csv is the source of truth and a resumed run truncates it to
the restored checkpoint's step (trainer.py), dropping rows logged after that checkpoint by the killed run.
Event files are append-only, so the same cut cannot be made inside them; instead the first write of a process
puts the current rows (those metrics.csv kept) into a new event file and then deletes the older event files.
Later writes append only the new rows. So TensorBoard never shows a step twice, never keeps a row the resumed
run recomputed, and equals metrics.csv step for step and value for value (float32). A crash between the new
file and the deletion leaves duplicates of identical rows until the next start, which removes them. Writes
are flushed per row; a SIGKILL can at most tear the last record of a file that the next start deletes.

Library: TensorFlow's own summary writer (`tf.summary.create_file_writer`, `tf.summary.write`; TF is already a
dependency through seqio). flax.metrics.tensorboard, clu and even `tf.summary.scalar` need the `tensorboard`
package, which TF 2.21 no longer installs; so the scalar is written as TensorBoard's scalars plugin writes it
(a float32 scalar tensor whose metadata names the `scalars` plugin), which is the few lines of `_scalar`.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"
TAG_PREFIX = "train/"
EVENT_FILE_GLOB = "events.out.tfevents.*"


def _tf() -> Any:
    """TensorFlow for its summary writer only, imported on first use and kept off the GPUs (JAX owns them)."""
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")  # as t5repro.data does; fails once TF has initialised devices
    except RuntimeError:
        pass
    return tf


def _scalar(tf: Any, tag: str, value: float, step: int) -> None:
    """What tensorboard.summary.v2.scalar writes: a float32 scalar tagged for the `scalars` plugin (version 0)."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
                                           data_class=summary_pb2.DATA_CLASS_SCALAR)
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=metadata)


class ScalarLog:
    """The event files of one run directory, kept equal to the metrics rows handed to `sync`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self._writer: Any = None
        self._file: Path | None = None
        self._written: list[dict[str, float]] = []

    def sync(self, rows: Sequence[Mapping[str, float]]) -> None:
        """Make the event files hold exactly `rows`: append the new ones, or rewrite when history changed."""
        rows = [dict(r) for r in rows]
        n = len(self._written)
        if self._writer is not None and self._file is not None and self._file.exists() \
                and rows[:n] == self._written:
            self._write(rows[n:])
            return
        self._rewrite(rows)

    def _rewrite(self, rows: list[dict[str, float]]) -> None:
        """New event file with `rows`, then remove every other event file (resume; see the module docstring)."""
        tf = _tf()
        self.close()
        self.logdir.mkdir(parents=True, exist_ok=True)
        suffix = f".{uuid.uuid4().hex}"
        self._writer = tf.summary.create_file_writer(str(self.logdir), filename_suffix=suffix)
        self._written = []
        self._write(rows)
        self._writer.flush()
        ours = [p for p in self.logdir.glob(EVENT_FILE_GLOB) if p.name.endswith(suffix)]
        if len(ours) != 1:
            raise RuntimeError(f"cannot find the event file *{suffix} just written in {self.logdir}")
        self._file = ours[0]
        stale = [p for p in self.logdir.glob(EVENT_FILE_GLOB) if p != self._file]
        for p in stale:
            p.unlink()
        if stale:
            log.info("TensorBoard: rewrote %d rows (steps <= %s) into %s, removed %d older event file(s)",
                     len(rows), rows[-1]["step"] if rows else 0, self._file.name, len(stale))

    def _write(self, rows: list[dict[str, float]]) -> None:
        if not rows:
            return
        tf = _tf()
        with self._writer.as_default():
            for row in rows:
                step = int(row["step"])
                for key, value in row.items():
                    if key != "step" and value is not None:
                        _scalar(tf, TAG_PREFIX + key, float(value), step)
        self._writer.flush()
        self._written.extend(rows)

    def close(self) -> None:
        """Flush and close the current event file (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


_LOGS: dict[Path, ScalarLog] = {}


def log_dir(workdir: str | Path) -> Path:
    """`<workdir>/tensorboard`, what `tensorboard --logdir` is pointed at."""
    return Path(workdir).resolve() / TENSORBOARD_DIR


def write_scalars(workdir: str | Path, rows: Sequence[Mapping[str, float]]) -> None:
    """Bring `<workdir>/tensorboard` in line with the metrics rows (called wherever metrics.csv is written)."""
    d = log_dir(workdir)
    if d not in _LOGS:
        _LOGS[d] = ScalarLog(d)
    _LOGS[d].sync(rows)


def close(workdir: str | Path) -> None:
    """Close the run's event file (end of a phase); a later write starts a new file."""
    scalar_log = _LOGS.pop(log_dir(workdir), None)
    if scalar_log is not None:
        scalar_log.close()


def read_scalars(logdir: str | Path) -> dict[str, dict[int, float]]:
    """`{tag: {step: value}}` of every scalar in the event files of `logdir`; a step written twice raises."""
    tf = _tf()
    out: dict[str, dict[int, float]] = {}
    for path in sorted(Path(logdir).glob(EVENT_FILE_GLOB)):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                steps = out.setdefault(value.tag, {})
                if event.step in steps:
                    raise ValueError(f"{logdir}: tag {value.tag} has step {event.step} twice")
                steps[int(event.step)] = number
    return out
