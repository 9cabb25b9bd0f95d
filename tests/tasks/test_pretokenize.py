"""`c4-tokenize` and `data.pretokenized` (D41's cache point): the pre-training Task gives the same examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import seqio

from t5repro import config, tasks
from t5repro.tasks import pretokenize


@pytest.fixture(scope="module")
def tokenized(session_cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok") / "c4_tokenized"
    cfg = config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                       f"io.c4_tokenized_dir={out}"])
    pretokenize.run(cfg)
    return out


def _examples(cfg, n: int, *, seed: int, shuffle: bool) -> list[dict[str, np.ndarray]]:
    name = tasks.register_pretraining_task(cfg)
    ds = seqio.get_mixture_or_task(name).get_dataset({"inputs": 64, "targets": 24}, split="train",
                                                     use_cached=False, shuffle=shuffle, seed=seed,
                                                     num_epochs=1)
    return [{k: ex[k] for k in ("inputs", "targets")} for ex in ds.take(n).as_numpy_iterator()]


@pytest.mark.parametrize("objective", ["iid_denoising", "span_corruption"])
@pytest.mark.parametrize("seed, shuffle", [(0, False), (3, True)])  # the seed also drives the noise masks
def test_pretokenized_task_gives_the_same_examples(session_cfg, tokenized, objective, seed, shuffle):
    base = [f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
            f"objective={objective}"]
    on_the_fly = _examples(config.load(base), 60, seed=seed, shuffle=shuffle)
    cached = _examples(config.load(base + [f"io.c4_tokenized_dir={tokenized}", "data.pretokenized=true"]), 60,
                       seed=seed, shuffle=shuffle)
    assert len(on_the_fly) == len(cached) == 60
    for a, b in zip(on_the_fly, cached):
        for k in ("inputs", "targets"):
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k])


def test_tokenized_folder_mirrors_the_shards(session_cfg, tokenized):
    manifest = json.loads((tokenized / "manifest.json").read_text())
    shards = sorted(p.name.replace(".jsonl.gz", ".tfrecord")
                    for p in pretokenize.shard_files(Path(session_cfg.io.c4_dir)))
    assert sorted(manifest["files"]) == shards and all((tokenized / s).is_file() for s in shards)
    assert all(v["pages"] > 0 and v["tokens"] > v["pages"] for v in manifest["files"].values())
    assert len(manifest["vocab_sha256"]) == 64


def test_missing_shards_and_dir_are_named(tmp_path, session_cfg):
    with pytest.raises(config.ConfigError, match="io.c4_dir=.*holds no"):
        pretokenize.run(config.load([f"io.c4_dir={tmp_path}", f"io.vocab_model={session_cfg.io.vocab_model}",
                                     f"io.c4_tokenized_dir={tmp_path / 'out'}"]))
    assert not (tmp_path / "out").exists()
    with pytest.raises(config.ConfigError, match="io.c4_tokenized_dir"):
        tasks.register_pretraining_task(config.load([f"io.vocab_model={session_cfg.io.vocab_model}",
                                                     "data.pretokenized=true"]))


def test_worker_processes_write_the_same_files(session_cfg, tokenized, tmp_path):
    """`data.tokenize_workers` tokenizes shards in parallel processes; files and manifest are unchanged."""
    c4 = Path(session_cfg.io.c4_dir)
    assert len(pretokenize.shard_files(c4)) >= 2  # otherwise the pool is not used
    out = tmp_path / "parallel"
    pretokenize.run(config.load([f"io.c4_dir={c4}", f"io.vocab_model={session_cfg.io.vocab_model}",
                                 f"io.c4_tokenized_dir={out}", "data.tokenize_workers=2"]))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tokenized.iterdir())
    for p in tokenized.iterdir():
        assert (out / p.name).read_bytes() == p.read_bytes(), p.name
    with pytest.raises(config.ConfigError, match="data.tokenize_workers"):
        pretokenize.run(config.load([f"io.c4_dir={c4}", f"io.vocab_model={session_cfg.io.vocab_model}",
                                     f"io.c4_tokenized_dir={tmp_path / 'bad'}", "data.tokenize_workers=0"]))
    assert not (tmp_path / "bad").exists()
