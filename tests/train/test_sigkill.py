"""SIGKILL (no handler, no final save) of a training process: the rerun resumes from the last complete checkpoint
and ends bit-identical to an uninterrupted run (spec M52, M83, M86); metrics.csv and TensorBoard hold each step once.

Two kill points, both deterministic: between checkpoints (once checkpoint 4 is committed, while fetching the batch
of step 7, after row 6 was logged), and inside the save of step 8 (all its data written, orbax's commit rename
not yet done). The killed process is a subprocess running this file; the resume runs in the test process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = 3
N = 8


def recipe():
    from t5repro.train.trainer import TrainConfig

    return TrainConfig(steps=N, batch_size=4, sequence_length={"inputs": 12, "targets": 6}, pack=False,
                       checkpoint_period=4, log_every=2)


# ----------------------------------------------------------------- the killed process


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _batches_then_kill(workdir: Path, kill_at_batch: int):
    """batch_stream(0), but SIGKILL while fetching batch `kill_at_batch`, once checkpoint 4 is committed."""
    from tests.train.stand_in import batch_stream

    for i, batch in enumerate(batch_stream(0)):
        if i == kill_at_batch:
            deadline = time.monotonic() + 120
            while not (workdir / "checkpoints" / "4").is_dir():  # orbax renames a save into place when complete
                if time.monotonic() > deadline:
                    raise TimeoutError("checkpoint 4 was never committed")
                time.sleep(0.05)
            _kill_self()
        yield batch


def _kill_inside_save(step: int) -> None:
    """Make orbax SIGKILL the process when it is about to commit checkpoint `step` (its data fully written)."""
    from orbax.checkpoint._src.path import atomicity

    original = atomicity.AtomicRenameTemporaryPath.finalize

    async def finalize(self, *args, **kwargs):
        if Path(str(self._final_path)).name == str(step):
            _kill_self()
        return await original(self, *args, **kwargs)

    atomicity.AtomicRenameTemporaryPath.finalize = finalize


def worker(workdir: str, mode: str) -> None:
    """Train the stand-in into `workdir` and die by SIGKILL at the point named by `mode`."""
    import jax

    jax.config.update("jax_disable_most_optimizations", True)  # as tests/train/conftest.py: same compiled numerics
    from t5repro.train.trainer import train
    from tests.train.stand_in import StandIn, batch_stream

    w = Path(workdir)
    if mode == "between_checkpoints":
        batches = _batches_then_kill(w, kill_at_batch=6)
    elif mode == "during_save":
        _kill_inside_save(N)
        batches = batch_stream(0)
    else:
        raise ValueError(mode)
    train(model=StandIn(), train_cfg=recipe(), batches=batches, workdir=w, seed=SEED)
    raise AssertionError("the worker was not killed")


def run_killed(workdir: Path, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), str(workdir), mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: final state and metrics rows."""
    from t5repro.train.trainer import train
    from tests.train.stand_in import StandIn, batch_stream
    from tests.train.test_trainer import final_state, metrics_rows

    workdir = tmp_path_factory.mktemp("reference")
    train(model=StandIn(), train_cfg=recipe(), batches=batch_stream(0), workdir=workdir, seed=SEED)
    return final_state(workdir)[0], metrics_rows(workdir)


@pytest.mark.slow
@pytest.mark.parametrize("mode,restored", [("between_checkpoints", 4), ("during_save", 4)])
def test_sigkill_then_rerun_is_bit_identical(reference, tmp_path, mode, restored):
    from t5repro.train import summaries
    from t5repro.train.checkpoint import latest_step
    from t5repro.train.trainer import train
    from tests.train.stand_in import StandIn, batch_stream
    from tests.train.test_trainer import assert_trees_equal, final_state, metrics_rows

    ref_state, ref_rows = reference
    proc = run_killed(tmp_path, mode)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert latest_step(tmp_path) == restored and not (tmp_path / "summary.json").exists()
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir() if "tmp" in p.name]
    if mode == "during_save":
        assert [n.split(".")[0] for n in leftovers] == [str(N)]  # the killed save: data on disk, never committed
        assert [int(r["step"]) for r in metrics_rows(tmp_path)] == [2, 4, 6, 8]  # logged past checkpoint 4
    else:
        assert [int(r["step"]) for r in metrics_rows(tmp_path)] == [2, 4, 6]  # row 6 is past checkpoint 4

    train(model=StandIn(), train_cfg=recipe(), batches=batch_stream(0), workdir=tmp_path, seed=SEED)

    state, meta = final_state(tmp_path)
    assert meta["global_step"] == N
    assert_trees_equal(state, ref_state)  # params, Adafactor statistics and step, bit for bit
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if "tmp" in p.name]
    rows = metrics_rows(tmp_path)
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows]  # no duplicate rows after the resume
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]
    scalars = summaries.read_scalars(tmp_path / "tensorboard")  # raises on a duplicated step
    assert sorted(scalars["train/loss"]) == [2, 4, 6, 8]


if __name__ == "__main__":
    worker(*sys.argv[1:])
