"""Input pipeline throughput per §3.3 objective on one CPU core, beside what a Base train step on an H100 eats.

For each objective the full pre-training pipeline runs as training runs it: C4 shards -> rekey -> SentencePiece
tokenize -> the objective (D44-D72) -> EOS -> trim -> shuffle -> the architecture's feature converter with
packing (D49-D52) at the paper's lengths (inputs 512, targets from D48). Each objective runs in its own
subprocess pinned to one CPU (`sched_setaffinity`), TensorFlow intra/inter-op threads 1 and a tf.data private
thread pool of 1, after an untimed warm-up (graph building, shuffle buffer). It reports packed rows/s and
non-padding tokens/s per CPU second, and beside it the rows/s that a T5-Base train step consumes on an H100:
`peak x MFU / training FLOPs per row` (M30 via `t5repro.models.info.flops_per_example`, 989 TFLOP/s dense bf16,
50 % MFU by default). The ratio "host core / accelerator demand" > 1 means one core keeps the accelerator fed.
`--breakdown` also times the task alone (no converter) and the tokenizer alone, to show what bounds it.

    python benchmarks/input_pipeline.py                               # every objective, 400 rows each
    python benchmarks/input_pipeline.py --objectives span_corruption --rows 1000 --breakdown
    python benchmarks/input_pipeline.py --c4-dir results/smoke/c4/en --vocab-model results/smoke/vocab/spm.model

Input: `--c4-dir`/`--vocab-model`, by default results/smoke/c4/en and results/smoke/vocab/spm.model when the
smoke DAG has run, else a fake C4 (tests/conftest.py's generator, 3 x `--pages` pages) and a vocabulary trained
on it by the `vocab` stage, cached under `--cache-dir`. Both are smoke-sized vocabularies (hundreds of
pieces), so the script prints characters per token: the tokenizer's work is per character, and the paper's
32k vocabulary yields fewer tokens per character than these (the tokens/s figures are per token produced).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from single_core import pin_to_one_cpu, run_worker  # noqa: E402  (benchmarks/ is the script's folder)
OBJECTIVES = ("span_corruption", "iid_denoising", "prefix_lm", "bert_style", "deshuffling", "mass_style",
              "drop_tokens", "lm")
INPUTS_LENGTH = 512  # paper §3.1.2 / D48
H100_PEAK_TFLOPS = 989.0  # dense bf16 (spec M90)


# ---------------------------------------------------------------------------------------------- worker
def _pin_one_core() -> None:
    """One CPU, one TF thread: the per-core figure, with no hidden parallelism."""
    pin_to_one_cpu()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _one_thread(ds):
    import tensorflow as tf

    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    opts.threading.max_intra_op_parallelism = 1
    opts.autotune.cpu_budget = 1
    return ds.with_options(opts)


def _cfg(objective: str, arch: str, c4_dir: str, vocab_model: str, tokenized_dir: str | None = None):
    from t5repro import config
    from t5repro.vocab import get_vocabulary

    pieces = get_vocabulary(vocab_model, 0).vocab_size
    extra = ["data.pretokenized=true", f"io.c4_tokenized_dir={tokenized_dir}"] if tokenized_dir else []
    return config.load([f"io.c4_dir={c4_dir}", f"io.vocab_model={vocab_model}", f"vocab.size={pieces}",
                        f"objective={objective}", f"arch={arch}", *extra])


def targets_length(objective: str) -> int:
    """Paper targets length of an objective for 512 inputs (D47/D48), from conf/objective/<name>.yaml."""
    from omegaconf import OmegaConf

    from t5repro import config
    from t5repro.tasks import c4

    cfg = OmegaConf.load(config.conf_dir() / "objective" / f"{objective}.yaml")
    return c4.objective_targets_length(cfg, INPUTS_LENGTH) or INPUTS_LENGTH


def _dataset(stage: str, objective: str, arch: str, c4_dir: str, vocab_model: str, tokenized_dir: str | None = None):
    """(dataset, token keys) of one stage: "model" (full pipeline), "task" (no converter), "tokenize"."""
    import functools

    import seqio

    from t5repro import data, tasks
    from t5repro.tasks import c4

    cfg = _cfg(objective, arch, c4_dir, vocab_model, tokenized_dir)
    lengths = {"inputs": INPUTS_LENGTH, "targets": targets_length(objective)}
    if stage == "tokenize":
        name = tasks.add_task("bench_tokenize", source=c4.c4_source(c4_dir), preprocessors=[
            functools.partial(seqio.preprocessors.rekey, key_map={"inputs": None, "targets": "text"}),
            seqio.preprocessors.tokenize],
            output_features=tasks.output_features(vocab_model, int(cfg.vocab.extra_ids)), metric_fns=[])
        ds = seqio.get_mixture_or_task(name).get_dataset(None, split="train", use_cached=False, shuffle=False,
                                                         num_epochs=None, trim_output_features=False)
        return ds, ("targets",)
    name = tasks.register_pretraining_task(cfg)
    if stage == "task":
        ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split="train", use_cached=False, shuffle=True,
                                                         seed=0, num_epochs=None)
        return ds, ("inputs", "targets")
    conv = data.feature_converter(arch, pack=True)
    ds = data.model_features(name, split="train", sequence_length=lengths, pack=True, seed=0, converter=conv)
    return ds, ("encoder_input_tokens", "decoder_target_tokens")


def worker(stage: str, objective: str, arch: str, c4_dir: str, vocab_model: str, rows: int, warmup: int,
           tokenized_dir: str | None = None) -> dict:
    _pin_one_core()
    import numpy as np

    ds, keys = _dataset(stage, objective, arch, c4_dir, vocab_model, tokenized_dir)
    it = _one_thread(ds).as_numpy_iterator()
    for _ in range(warmup):
        next(it)
    tokens = chars = 0
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    for _ in range(rows):
        ex = next(it)
        tokens += sum(int(np.count_nonzero(ex[k])) for k in keys if k in ex)
        if stage == "tokenize":
            chars += len(ex["targets_pretokenized"])
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    return {"stage": stage, "objective": objective, "arch": arch, "rows": rows, "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3), "rows_per_cpu_s": round(rows / cpu, 2), "tokens_per_cpu_s": round(tokens / cpu),
            "tokens_per_row": round(tokens / rows, 1), "chars_per_token": round(chars / tokens, 3) if chars else None}


# ---------------------------------------------------------------------------------------------- parent
def accelerator_demand(objective: str, arch: str, peak_tflops: float, mfu: float) -> dict:
    """Rows/s and tokens/s that a T5-Base train step at `mfu` of `peak_tflops` consumes (M30, training = 3 fwd)."""
    from omegaconf import OmegaConf

    from t5repro import config
    from t5repro.models import T5Config
    from t5repro.models.info import flops_per_example

    model = T5Config.from_cfg(OmegaConf.load(config.conf_dir() / "model" / "base.yaml"))
    lt = targets_length(objective)
    li = 0 if objective == "lm" else INPUTS_LENGTH  # the LM objective has targets only (D51)
    flops = flops_per_example(model, li, lt, arch)["training"]
    rows = peak_tflops * 1e12 * mfu / flops
    return {"lengths": [li, lt], "gflop_per_row": round(flops / 1e9, 1), "rows_per_s": round(rows, 1),
            "tokens_per_s": round(rows * (li + lt))}


def default_inputs(args) -> tuple[str, str]:
    """The smoke DAG's C4 and vocabulary if present, else a generated fake C4 and a vocabulary trained on it."""
    smoke_c4, smoke_vocab = REPO / "results/smoke/c4/en", REPO / "results/smoke/vocab/spm.model"
    c4_dir = args.c4_dir or (str(smoke_c4) if smoke_c4.is_dir() else None)
    vocab = args.vocab_model or (str(smoke_vocab) if smoke_vocab.is_file() else None)
    if c4_dir and vocab:
        return c4_dir, vocab
    from tests.conftest import make_cfg, write_fake_c4

    from t5repro import vocab as vocab_stage

    root = args.cache_dir / f"fake-c4-{args.pages}"
    if not (root / "DONE").exists():
        write_fake_c4(root / "c4", pages_per_shard=args.pages)
        vocab_stage.run(make_cfg(root, root / "c4", root / "vocab" / "spm.model"))
        (root / "DONE").write_text("ok")
    return c4_dir or str(root / "c4"), vocab or str(root / "vocab" / "spm.model")


def tokenize_once(c4_dir: str, vocab: str, cache_dir: Path) -> str:
    """`c4-tokenize` of the input into cache_dir (once per input and vocabulary), for --pretokenized."""
    import hashlib

    from t5repro import config
    from t5repro.tasks import pretokenize

    key = hashlib.sha256(f"{Path(c4_dir).resolve()}|{Path(vocab).read_bytes().hex()}".encode()).hexdigest()[:12]
    out = cache_dir / f"tokenized-{key}"
    if not (out / "manifest.json").is_file():
        pretokenize.run(config.load([f"io.c4_dir={c4_dir}", f"io.vocab_model={vocab}", f"io.c4_tokenized_dir={out}"]))
    return str(out)


def spawn(stage: str, objective: str, arch: str, c4_dir: str, vocab: str, args,
          tokenized_dir: str | None = None) -> dict:
    return run_worker(__file__, [
        "--worker", stage, "--objectives", objective, "--arch", arch, "--c4-dir", c4_dir, "--vocab-model", vocab,
        "--rows", str(args.rows), "--warmup", str(args.warmup),
        *(["--tokenized-dir", tokenized_dir] if tokenized_dir else [])], f"{stage}/{objective}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    ap.add_argument("--arch", default="encoder_decoder",
                    help="arch.name for every objective but lm, which always runs decoder_only_lm")
    ap.add_argument("--rows", type=int, default=400, help="packed rows timed per objective (default 400)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed rows first (graphs, shuffle buffer)")
    ap.add_argument("--breakdown", action="store_true", help="also time the task alone and the tokenizer alone")
    ap.add_argument("--peak-tflops", type=float, default=H100_PEAK_TFLOPS, help="accelerator peak (H100: 989)")
    ap.add_argument("--mfu", type=float, default=0.5, help="model FLOPs utilisation of the train step (0.5)")
    ap.add_argument("--c4-dir")
    ap.add_argument("--vocab-model")
    ap.add_argument("--pages", type=int, default=2000, help="pages per fake C4 shard when generating input")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "t5repro-input-bench")
    ap.add_argument("--pretokenized", action="store_true",
                    help="also time each objective reading C4 as token ids written once by c4-tokenize "
                         "(data.pretokenized=true, D41's cache point)")
    ap.add_argument("--worker", choices=("model", "task", "tokenize"), help=argparse.SUPPRESS)
    ap.add_argument("--tokenized-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.objectives[0], args.arch, args.c4_dir, args.vocab_model,
                                args.rows, args.warmup, args.tokenized_dir)))
        return

    c4_dir, vocab = default_inputs(args)
    tokenized_dir = tokenize_once(c4_dir, vocab, args.cache_dir) if args.pretokenized else None
    print(f"input: {c4_dir} (vocabulary {vocab}); {args.rows} rows per objective after {args.warmup} warm-up, "
          f"one CPU; demand: T5-Base on {args.peak_tflops:g} TFLOP/s at {args.mfu:.0%} MFU")
    results: dict[str, dict] = {}
    if args.breakdown:
        tok = spawn("tokenize", "span_corruption", args.arch, c4_dir, vocab, args)
        results["tokenize"] = tok
        print(f"tokenizer alone: {tok['tokens_per_cpu_s']:,} tokens/CPU-s, {tok['chars_per_token']} chars/token")
    print(f"{'objective':<16} {'arch':<16} {'rows/CPU-s':>10} {'tokens/CPU-s':>13} {'tok/row':>8} | "
          f"{'demand rows/s':>13} {'tokens/s':>10} | host core / accelerator demand")
    for objective in args.objectives:
        arch = "decoder_only_lm" if objective == "lm" else args.arch
        r = spawn("model", objective, arch, c4_dir, vocab, args)
        d = accelerator_demand(objective, arch, args.peak_tflops, args.mfu)
        r["demand"] = d
        r["ratio"] = round(r["rows_per_cpu_s"] / d["rows_per_s"], 3)
        if tokenized_dir:
            p = spawn("model", objective, arch, c4_dir, vocab, args, tokenized_dir)
            r["pretokenized"] = {"rows_per_cpu_s": p["rows_per_cpu_s"], "tokens_per_cpu_s": p["tokens_per_cpu_s"],
                                 "ratio": round(p["rows_per_cpu_s"] / d["rows_per_s"], 3)}
        if args.breakdown:
            t = spawn("task", objective, arch, c4_dir, vocab, args)
            r["task_alone"] = {k: t[k] for k in ("rows_per_cpu_s", "tokens_per_cpu_s", "tokens_per_row")}
        results[objective] = r
        print(f"{objective:<16} {arch:<16} {r['rows_per_cpu_s']:>10.1f} {r['tokens_per_cpu_s']:>13,} "
              f"{r['tokens_per_row']:>8.1f} | {d['rows_per_s']:>13.1f} {d['tokens_per_s']:>10,} | {r['ratio']:.2f}x"
              + (f"   (task alone {r['task_alone']['tokens_per_cpu_s']:,} tok/CPU-s)" if args.breakdown else "")
              + (f"   pretokenized: {r['pretokenized']['rows_per_cpu_s']:.1f} rows/CPU-s, "
                 f"{r['pretokenized']['ratio']:.2f}x" if tokenized_dir else ""))
    print(json.dumps({"c4_dir": c4_dir, "vocab_model": vocab, "peak_tflops": args.peak_tflops, "mfu": args.mfu,
                      "results": results}))


if __name__ == "__main__":
    main()
