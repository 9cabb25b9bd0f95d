"""Multi-host input (spec model.md M85): each process loads its own share of every global batch.

In-process tests check the data side (seqio's `shard_info` gives disjoint shares that cover the split, by
files or by examples) and the errors. The end-to-end test launches two JAX processes (this module as a
script, `worker`), each with 2 CPU devices joined by `jax.distributed` over gloo (4 devices in all): each
reads its share through the stage's own `get_batches` arguments, packs it on the host, and trains a tiny T5
for a few steps on a 4 x 1 mesh. A third process (`reference`), one process with 4 devices, rebuilds both
shares itself and trains on their concatenation: losses and parameters must agree.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

from t5repro import data
from t5repro.config import ConfigError
from t5repro.models import T5, T5Config
from t5repro.tasks import add_task, json_lines_reader
from t5repro.train import partitioning
from t5repro.train.partitioning import Partitioner
from t5repro.train.trainer import TrainConfig, fresh_state, make_train_step

ROOT = Path(__file__).resolve().parents[2]
N_PROCESSES, LOCAL_DEVICES = 2, 2
GLOBAL_BATCH = 8  # 4 rows per process, 2 per device
LENGTHS = {"inputs": 48, "targets": 16}  # 2-3 examples per packed row
TRAIN_FILES = 2  # the training run's source has 2 files: seqio shards it by files, as C4's shards (D17)
CONFIG = T5Config(vocab_size=384, d_model=32, d_ff=64, num_heads=2, d_kv=16, num_encoder_layers=1,
                  num_decoder_layers=1, dropout_rate=0.1)  # ByteVocabulary: 259 ids
RECIPE = TrainConfig(steps=3, batch_size=GLOBAL_BATCH, sequence_length=LENGTHS, log_every=1)
SEED = 5
# As in test_partitioning.py: only the reduction order differs (the cross-process all-reduce over gloo
# instead of one process's), float32 rounding far below one update.
RTOL, ATOL = 2e-5, 2e-6
TIMEOUT_S = 300  # a hung coordinator or collective fails the test instead of hanging CI
WORDS = "the of and city river school music film story people year first new old world game".split()


# ------------------------------------------------------------------------------- the tiny seqio Task


def write_lines(root: Path, n_files: int, per_file: int = 40) -> Path:
    """`n_files` JSON-lines files `train-*.jsonl` of short texts, each starting with a unique id `exNNN`."""
    rng = random.Random(n_files)
    folder = root / f"files{n_files}"
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for f in range(n_files):
        with open(folder / f"train-{f:05d}-of-{n_files:05d}.jsonl", "w") as out:
            for _ in range(per_file):
                text = f"ex{k:03d} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
                out.write(json.dumps({"text": text}) + "\n")
                k += 1
    return folder


def _to_pair(ds: tf.data.Dataset) -> tf.data.Dataset:
    """inputs: the whole line; targets: its id, so every packed segment says which example it holds."""
    return ds.map(lambda ex: {"inputs": ex["text"], "targets": tf.strings.split(ex["text"], " ")[0]})


def register_task(folder: Path) -> str:
    """A seqio Task over `folder`'s files with the project's JSON-lines reader and byte tokens."""
    vocabulary = seqio.ByteVocabulary()
    features = {k: seqio.Feature(vocabulary=vocabulary, add_eos=True) for k in ("inputs", "targets")}
    source = seqio.FileDataSource(read_file_fn=json_lines_reader({"text": tf.string}, gzip=False),
                                  split_to_filepattern={"train": f"{folder}/train-*.jsonl"})
    return add_task(f"m85_{folder.name}", source=source, output_features=features,
                    preprocessors=[_to_pair, seqio.preprocessors.tokenize, seqio.preprocessors.append_eos_after_trim])


def example_ids(batch: dict[str, np.ndarray]) -> list[str]:
    """The ids of the examples a (packed or unpacked) batch holds, read back from the target bytes."""
    tgt = batch["decoder_target_tokens"]
    seg = batch.get("decoder_segment_ids", (tgt > 0).astype(np.int32))
    ids = []
    for row, s in zip(tgt, seg):
        for j in range(1, int(s.max()) + 1):
            ids.append(bytes(int(t) - 3 for t in row[s == j] if t > 1).decode())
    return ids


def _epoch_ids(name: str, shard_info: seqio.ShardInfo | None) -> list[list[str]]:
    """One unshuffled, unpacked epoch of `name` as the ids of each batch this share loads."""
    return [example_ids(b) for b in data.get_batches(name, split="train", sequence_length=LENGTHS,
                                                     batch_size=GLOBAL_BATCH, pack=False, seed=0, shuffle=False,
                                                     num_epochs=1, shard_info=shard_info)]


# ------------------------------------------------------------------------------------ in-process tests


@pytest.mark.parametrize("n_files", [1, 3])  # 1 < 2 shares: seqio shards by examples; 3 >= 2: by files
def test_input_shares_are_disjoint_and_cover_the_split_m85(tmp_path, n_files):
    name = register_task(write_lines(tmp_path, n_files))
    whole = _epoch_ids(name, None)
    shares = [_epoch_ids(name, data.input_shard(i, N_PROCESSES)) for i in range(N_PROCESSES)]
    flat = [sorted(sum(s, [])) for s in shares]
    assert not set(flat[0]) & set(flat[1])  # no example is read twice
    assert sorted(flat[0] + flat[1]) == sorted(sum(whole, []))  # together: exactly the split
    for s in shares:  # batch_size / 2 rows per batch (the epoch's last batch keeps its remainder)
        assert {len(b) for b in s[:-1]} == {GLOBAL_BATCH // N_PROCESSES} and 0 < len(s[-1]) <= GLOBAL_BATCH // 2
    if n_files == 1:  # by examples, in order: share i holds examples i, i+2, ...; a global batch is the same set
        assert flat[0] == [f"ex{k:03d}" for k in range(0, 40, 2)]
        assert sorted(shares[0][0] + shares[1][0]) == sorted(whole[0])
    else:  # by files: share 0 reads files 0 and 2, share 1 file 1
        assert flat[1] == [f"ex{k:03d}" for k in range(40, 80)]


def test_one_process_reads_everything_and_errors_name_the_key_m85():
    assert data.input_shard(0, 1) is None  # one process: no sharding, the same examples in the same order
    assert data.input_shard(1, 2) == seqio.ShardInfo(index=1, num_shards=2)
    with pytest.raises(ValueError, match=r"index 2 is not in \[0, 2\)"):
        data.input_shard(2, 2)
    assert data.local_batch_size(8, None) == 8 and data.local_batch_size(8, seqio.ShardInfo(1, 2)) == 4
    with pytest.raises(ConfigError, match=r"pretrain\.batch_size=6 is not divisible by the 4 input shares"):
        data.local_batch_size(6, seqio.ShardInfo(0, 4), key="pretrain.batch_size")
    assert Partitioner.create(None).input_shard(GLOBAL_BATCH) == (0, 1)


def test_shard_batch_refuses_a_whole_batch_on_each_host_m85(monkeypatch):
    """Two hosts that each pass the whole global batch would train on twice the batch: an error naming M85."""
    part = Partitioner.create(None)
    whole = {"encoder_input_tokens": np.ones((GLOBAL_BATCH, 4), np.int32)}
    monkeypatch.setattr(partitioning.jax, "process_count", lambda: 2)
    monkeypatch.setattr(Partitioner, "input_shard", lambda self, rows, key="batch_size": (0, 2))
    with pytest.raises(ValueError, match=r"must load batch_size / 2 rows of 'encoder_input_tokens', got 8 "
                                         r"\(spec M85\)"):
        part.shard_batch(whole, GLOBAL_BATCH)


# ------------------------------------------------------------------- two processes, in subprocesses


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def _run_all(procs: list[subprocess.Popen], timeout: float) -> None:
    """Wait for every process; on the first failure or the timeout, kill the rest (a peer would hang)."""
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs):
        if any(p.returncode not in (None, 0) for p in procs) or time.monotonic() > deadline:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            break
        time.sleep(0.5)
    for p in procs:
        p.wait()


@pytest.mark.slow  # ~1 min on 2 cores: three processes import TensorFlow and compile a train step
def test_two_processes_train_as_one_on_their_joint_batch_m85(tmp_path):
    folder = write_lines(tmp_path, TRAIN_FILES)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    logs = [tmp_path / f"{role}.log" for role in ("worker0", "worker1", "reference")]
    cmds = [[sys.executable, "-m", "tests.train.test_multihost", "worker", str(i), str(port), str(folder),
             str(tmp_path)] for i in range(N_PROCESSES)]
    cmds.append([sys.executable, "-m", "tests.train.test_multihost", "reference", str(folder), str(tmp_path)])
    devices = [LOCAL_DEVICES] * N_PROCESSES + [N_PROCESSES * LOCAL_DEVICES]
    procs = []
    for cmd, log, n in zip(cmds, logs, devices):
        with open(log, "w") as out:
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          env={**env, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}))
    _run_all(procs, TIMEOUT_S)
    for p, log in zip(procs, logs):
        assert p.returncode == 0, f"{log.name} exited {p.returncode}:\n" + log.read_text()[-6000:]

    hosts = [np.load(tmp_path / f"worker{i}.npz") for i in range(N_PROCESSES)]
    ref = np.load(tmp_path / "reference.npz")
    steps = RECIPE.steps
    ids = [sum((json.loads(str(h["ids"]))[s] for s in range(steps)), []) for h in hosts]
    assert not set(ids[0]) & set(ids[1]), "both processes read the same examples"
    assert all(len(i) > RECIPE.steps * GLOBAL_BATCH // N_PROCESSES for i in ids)  # rows hold several examples
    for s in range(steps):
        for k in data.PACKED_KEYS:  # packed on the host (D49): segment ids and positions come with the rows
            local = [h[f"local/{s}/{k}"] for h in hosts]
            assert all(x.shape[0] == GLOBAL_BATCH // N_PROCESSES for x in local), k
            # the assembled global array is process 0's rows, then process 1's (make_array_from_process_local_data)
            np.testing.assert_array_equal(hosts[0][f"global/{s}/{k}"], np.concatenate(local), err_msg=k)
            np.testing.assert_array_equal(hosts[1][f"global/{s}/{k}"], np.concatenate(local), err_msg=k)
            # ... and exactly the two shares the single process reads with the same shard_info
            np.testing.assert_array_equal(ref[f"global/{s}/{k}"], np.concatenate(local), err_msg=k)
    for h in hosts:
        np.testing.assert_allclose(h["losses"], ref["losses"], rtol=RTOL, err_msg="losses")
        assert [k for k in h.files if k.startswith("param")] == [k for k in ref.files if k.startswith("param")]
        for k in (k for k in ref.files if k.startswith("param")):
            np.testing.assert_allclose(h[k], ref[k], rtol=RTOL, atol=ATOL, err_msg=k)
    assert ref["losses"][-1] < ref["losses"][0], ref["losses"]
    assert all(bool(h["m85_error"]) for h in hosts)  # a host passing the whole batch was refused


# ---------------------------------------------------------------------------------- the subprocesses


def _train(part: Partitioner, batches: list[dict[str, np.ndarray]]) -> tuple[list[float], Any, list[dict]]:
    """RECIPE.steps updates from the seeded init on `part`'s mesh; (losses, final state, global batches)."""
    from jax.experimental import multihost_utils

    model = T5(CONFIG)
    state = fresh_state(model, RECIPE, part, SEED)
    step = make_train_step(model, RECIPE, None, part)
    start, root = jax.device_put((jax.numpy.asarray(0, jax.numpy.int32), jax.random.PRNGKey(11)), part.replicated)
    losses, globals_ = [], []
    for b in batches:
        sharded = part.shard_batch(b, RECIPE.batch_size)  # spec M85
        globals_.append(multihost_utils.process_allgather(sharded, tiled=True))
        state, m = step(state, sharded, root, start)
        losses.append(float(m["loss"]))
    return losses, state, globals_


def _save(path: Path, losses: list[float], state: Any, globals_: list[dict], **extra: Any) -> None:
    from jax.experimental import multihost_utils

    params = multihost_utils.process_allgather(state.params, tiled=True)  # the global values
    out = {f"param{jax.tree_util.keystr(k)}": np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(params)}
    out.update({f"global/{s}/{k}": np.asarray(v) for s, g in enumerate(globals_) for k, v in g.items()})
    np.savez(path, losses=np.asarray(losses), **out, **extra)


def _take(it: Iterator[dict[str, np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
    return [next(it) for _ in range(n)]


def worker(process_id: int, port: int, folder: Path, out: Path) -> None:
    """Process `process_id` of 2: joins the others, reads its input share as `t5repro pretrain` does, trains."""
    from t5repro.train import stages

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # jax 0.10's default, stated
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=N_PROCESSES,
                               process_id=process_id, initialization_timeout=120)
    jax.config.update("jax_disable_most_optimizations", True)  # compile-bound, as tests/train/conftest.py
    assert jax.process_count() == N_PROCESSES and jax.device_count() == N_PROCESSES * LOCAL_DEVICES
    part = Partitioner.create(None)
    assert part.input_shard(GLOBAL_BATCH) == (process_id, N_PROCESSES)
    name = register_task(folder)
    kwargs = stages._input_shard(data, part, RECIPE, "pretrain")  # what the pretrain stage passes
    assert kwargs["shard_info"] == seqio.ShardInfo(process_id, N_PROCESSES)
    batches = _take(data.get_batches(name, split="train", sequence_length=LENGTHS, pack=True, seed=0, **kwargs),
                    RECIPE.steps)
    try:  # spec M85: a host that loads the whole global batch is refused
        part.shard_batch({k: np.concatenate([v, v]) for k, v in batches[0].items()}, GLOBAL_BATCH)
        m85_error = False
    except ValueError as e:
        m85_error = "spec M85" in str(e)
    # Model parallelism across the hosts (n_data = 1): both processes hold every row, so both load the whole
    # batch (one input share) and a half batch is refused.
    wide = Partitioner.create({"model_parallelism": N_PROCESSES * LOCAL_DEVICES})
    assert wide.input_shard(GLOBAL_BATCH) == (0, 1)
    same = {"x": np.arange(GLOBAL_BATCH * 3, dtype=np.int32).reshape(GLOBAL_BATCH, 3)}  # identical on every host
    placed = wide.shard_batch(same, GLOBAL_BATCH)["x"]
    assert placed.shape == (GLOBAL_BATCH, 3)
    assert all(np.array_equal(s.data, same["x"]) for s in placed.addressable_shards)
    try:
        wide.shard_batch({"x": same["x"][:GLOBAL_BATCH // 2]}, GLOBAL_BATCH)
        raise AssertionError("a half batch under n_data = 1 was accepted")
    except ValueError as e:
        assert "spec M85" in str(e), e
    losses, state, globals_ = _train(part, batches)
    local = {f"local/{s}/{k}": v for s, b in enumerate(batches) for k, v in b.items()}
    _save(out / f"worker{process_id}.npz", losses, state, globals_, m85_error=np.asarray(m85_error),
          ids=np.asarray(json.dumps([example_ids(b) for b in batches])), **local)
    print("worker", process_id, "losses", losses, flush=True)


def reference(folder: Path, out: Path) -> None:
    """One process with 4 devices: rebuilds both input shares itself and trains on their concatenation."""
    jax.config.update("jax_disable_most_optimizations", True)
    assert jax.process_count() == 1 and jax.device_count() == N_PROCESSES * LOCAL_DEVICES
    part = Partitioner.create(None)
    name = register_task(folder)
    shares = [_take(data.get_batches(name, split="train", sequence_length=LENGTHS, pack=True, seed=0,
                                     batch_size=GLOBAL_BATCH, shard_info=data.input_shard(i, N_PROCESSES)),
                    RECIPE.steps) for i in range(N_PROCESSES)]
    batches = [{k: np.concatenate([s[t][k] for s in shares]) for k in shares[0][t]} for t in range(RECIPE.steps)]
    losses, state, globals_ = _train(part, batches)
    _save(out / "reference.npz", losses, state, globals_)
    print("reference losses", losses, flush=True)


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "worker":
        worker(int(args[0]), int(args[1]), Path(args[2]), Path(args[3]))
    else:
        reference(Path(args[0]), Path(args[1]))
