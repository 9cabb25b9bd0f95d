"""Orbax checkpoints of a training workdir: periodic saves, latest-complete restore, fine-tuning init.

Saves are sharded (each process writes its shards, spec M86); restores take target shardings, so a
checkpoint written on one mesh restores onto another (pre-train on a pod slice, fine-tune elsewhere).

Layout: `<workdir>/checkpoints/<step>/{state,meta}` where `state` is the `TrainState` (params, the full
optimiser state, step; spec M86) and `meta` a small JSON record: the phase step, the global step
(M42), the number of batches consumed from the data iterator, and the cumulative wall time.

Orbax writes each step into `<step>.orbax-checkpoint-tmp-*` and renames it when complete, so an
interrupted save never looks like a checkpoint; such leftovers are ignored and removed on the next start.

Data-iterator position: we record only `batches_consumed` (one batch per update). The data pipeline is
deterministic given its seed (seqio with a fixed shuffle seed), so resume re-creates the iterator and
skips that many batches. This costs a re-read of the skipped data (cheap at smoke scale; at paper
scale a checkpointable iterator, e.g. seqio/grain state, should replace it: spec M86 "when available").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from t5repro.train.state import TrainState

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


def checkpoint_dir(workdir: str | Path) -> Path:
    """`<workdir>/checkpoints`, the orbax root of a run."""
    return Path(workdir).resolve() / CHECKPOINTS


class Checkpointer:
    """A thin `ocp.CheckpointManager` wrapper: save every `period` steps and at the end (spec M52, M86)."""

    def __init__(self, workdir: str | Path, *, period: int, keep: int | None = None,
                 async_save: bool = True) -> None:
        if period <= 0:
            raise ValueError(f"checkpoint_period must be positive, got {period}")
        self.period = int(period)
        self.directory = checkpoint_dir(workdir)
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep,                 # None: keep all (fine-tuning model selection, M52/M86)
            create=True,
            cleanup_tmp_directories=True,     # drop leftovers of an interrupted save
            enable_async_checkpointing=async_save,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self._closed = False

    def latest_step(self) -> int | None:
        """Step of the latest complete checkpoint, or None (in-progress/tmp directories are not listed)."""
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        """Steps of all complete checkpoints, ascending."""
        return sorted(self.manager.all_steps())

    def should_save(self, step: int) -> bool:
        """Whether the periodic policy saves at `step` (every `period` updates, M52)."""
        return step > 0 and step % self.period == 0

    def save(self, state: TrainState, meta: dict[str, Any]) -> None:
        """Save `state` at its step with `meta` (asynchronously; the array copy happens before return)."""
        step = int(jax.device_get(state.step))
        if step in self.manager.all_steps():
            return
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        meta=ocp.args.JsonSave(dict(meta))), force=True)

    def restore(self, like: TrainState, step: int | None = None, *,
                shardings: Any | None = None) -> tuple[TrainState, dict[str, Any]]:
        """Restore (state, meta) at `step` (default: the latest complete one) into the structure of `like`.

        `shardings` (a tree of `jax.sharding.Sharding` shaped like `like`) places every array on the
        current mesh, whatever mesh saved it (spec M86); None keeps `like`'s own placement.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {self.directory}")
        return _restore(self.manager, step, like, shardings)

    def wait(self) -> None:
        """Block until pending asynchronous saves are finalised."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager (idempotent)."""
        if not self._closed:
            self.manager.wait_until_finished()
            self.manager.close()
            self._closed = True


def _abstract(like: Any, shardings: Any | None = None) -> Any:
    """ShapeDtypeStructs of `like`, carrying `shardings` when given: orbax reads each shard onto them (M86)."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    if shardings is None:
        return abstract
    return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)


def _restore(manager: ocp.CheckpointManager, step: int, like: TrainState,
             shardings: Any | None = None) -> tuple[TrainState, dict[str, Any]]:
    target = _abstract(like, shardings)
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                             meta=ocp.args.JsonRestore()))
    state = restored.state
    # StandardRestore returns plain tuples for the optax chain; put the exact structure of `like` back.
    state = jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(state))
    return state, dict(restored.meta)


def all_steps(workdir: str | Path) -> list[int]:
    """Steps of every complete checkpoint of a workdir, ascending; [] if none (orbax skips tmp dirs)."""
    directory = checkpoint_dir(workdir)
    if not directory.is_dir():
        return []
    with ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True)) as m:
        return sorted(m.all_steps())


def latest_step(workdir: str | Path) -> int | None:
    """Step of the latest complete checkpoint of a workdir, or None."""
    steps = all_steps(workdir)
    return steps[-1] if steps else None


def load_params(pretrain_dir: str | Path, like: TrainState, *,
                shardings: Any | None = None) -> tuple[TrainState, dict[str, Any]]:
    """Restore params AND optimiser state of the latest pre-training checkpoint to start fine-tuning (M42, M53).

    `like` is a (possibly abstract) `TrainState` of the fine-tuning model and optimiser; the restored
    state keeps Adafactor's counter, so fine-tuning step s runs at global step `meta["global_step"] + s`.
    `shardings` places it on the fine-tuning mesh, which may differ from pre-training's (spec M86).
    """
    directory = checkpoint_dir(pretrain_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"pre-training workdir {pretrain_dir} has no {CHECKPOINTS}/ folder")
    with ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True)) as m:
        step = m.latest_step()
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {directory}")
        state, meta = _restore(m, step, like, shardings)
    log.info("initialised from %s step %d (global step %s)", directory, step, meta.get("global_step"))
    return state, meta
