"""Stage `c4-tokenize`: a C4 folder's texts as SentencePiece ids, once, before training (spec D41's cache point).

Pre-training reads C4 through one tokenizer call per page at every epoch; writing the ids once (T5 caches
its tasks the same way, seqio's CacheDatasetPlaceholder) takes the tokenizer off the training host, which
is what lets one host core feed the accelerator (benchmarks/input_pipeline.py). `data.pretokenized=true`
makes the pre-training Task read these files; its examples are the on-the-fly Task's, id for id (tested).

Layout: `io.c4_tokenized_dir/{split}-SSSSS-of-NNNNN.tfrecord`, one per C4 shard with the same stem and page
order, each a `tf.train.Example` per page with an int64 feature `targets` (no EOS: D43 appends it after the
objective), plus `manifest.json` (vocabulary sha256, pages and tokens per file). Written atomically.
"""

from __future__ import annotations

import concurrent.futures as futures
import functools
import hashlib
import logging
import multiprocessing
from pathlib import Path

import tensorflow as tf
from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro import log as log_lib

logger = logging.getLogger(__name__)

FEATURE = "targets"
SUFFIX = ".jsonl.gz"


def shard_files(c4_dir: Path) -> list[Path]:
    """The C4 shards `{train,validation}-*.jsonl.gz` of a folder; none is an error naming io.c4_dir."""
    files = sorted(p for split in ("train", "validation") for p in c4_dir.glob(f"{split}-*{SUFFIX}"))
    if not files:
        raise config_lib.ConfigError(f"io.c4_dir={c4_dir} holds no {{train,validation}}-*{SUFFIX} shards")
    return files


def tokenize_shard(src: Path, dest: Path, vocabulary) -> dict[str, int]:
    """Write one shard's pages as Examples of token ids (the ids `seqio.preprocessors.tokenize` gives, D43)."""
    pages = tokens = 0
    with tf.io.TFRecordWriter(str(dest)) as writer:
        for i, rec in enumerate(io_lib.read_jsonl(src), 1):
            if "text" not in rec:
                raise ValueError(f"{src}:{i}: C4 record without a 'text' field")
            ids = vocabulary.encode(rec["text"])
            feature = {FEATURE: tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
            pages += 1
            tokens += len(ids)
    return {"pages": pages, "tokens": tokens}


@functools.lru_cache(maxsize=1)
def _vocabulary(vocab_model: str, extra_ids: int):
    """The run's vocabulary, loaded once per (worker) process."""
    from t5repro.vocab import get_vocabulary

    return get_vocabulary(vocab_model, extra_ids)


def _tokenize_job(src: Path, dest: Path, vocab_model: str, extra_ids: int) -> dict[str, int]:
    return tokenize_shard(src, dest, _vocabulary(vocab_model, extra_ids))


def _workers(cfg: DictConfig) -> int:
    n = cfg.data.get("tokenize_workers", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise config_lib.ConfigError(f"data.tokenize_workers must be a positive integer, got {n!r}")
    return n


def run(cfg: DictConfig) -> None:
    """Stage `c4-tokenize`: io.c4_dir + io.vocab_model -> io.c4_tokenized_dir (atomic folder).

    Shards are independent: `data.tokenize_workers` processes (Snakemake passes the rule's threads) tokenize
    one shard each, so paper-scale C4 (~156 B tokens, ~40 CPU-hours) takes an hour on a 64-core node. The
    files and manifest do not depend on the worker count (tested).
    """
    c4_dir = config_lib.require_path(cfg, "io.c4_dir")
    vocab_model = config_lib.require_path(cfg, "io.vocab_model")
    out_dir = config_lib.require_path(cfg, "io.c4_tokenized_dir")
    workers = _workers(cfg)
    extra_ids = int(cfg.vocab.extra_ids)
    _vocabulary(str(vocab_model), extra_ids)  # fail here, naming the model, before any worker starts
    files = shard_files(Path(c4_dir))
    names = {src: src.name[:-len(SUFFIX)] + ".tfrecord" for src in files}
    manifest: dict = {"c4_dir": str(c4_dir), "vocab_model": str(vocab_model),
                      "vocab_sha256": hashlib.sha256(Path(vocab_model).read_bytes()).hexdigest(), "files": {}}
    done: dict[str, dict[str, int]] = {}
    with io_lib.atomic_dir(out_dir) as tmp:
        jobs = [(src, Path(tmp) / names[src], str(vocab_model), extra_ids) for src in files]
        bar = functools.partial(log_lib.progress, total=len(files), desc="c4-tokenize", unit="shard")
        if workers == 1 or len(files) == 1:
            for job in bar(jobs):
                done[job[1].name] = _tokenize_job(*job)
        else:
            # spawn: the parent holds TensorFlow and SentencePiece state that must not be forked
            ctx = multiprocessing.get_context("spawn")
            with futures.ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=ctx) as pool:
                pending = {pool.submit(_tokenize_job, *job): job[1].name for job in jobs}
                for fut in bar(futures.as_completed(pending)):
                    done[pending[fut]] = fut.result()
        manifest["files"] = {names[src]: done[names[src]] for src in files}  # shard order, whatever finished first
        io_lib.write_json(Path(tmp) / "manifest.json", manifest)
    total = sum(v["tokens"] for v in manifest["files"].values())
    logger.info("wrote %d shards, %d tokens to %s (%d workers)", len(files), total, out_dir, workers)
