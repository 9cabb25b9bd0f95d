"""Train-step throughput: our Flax T5 vs Hugging Face's PyTorch T5 on the same shapes, in one run.

One full step = forward, backward and the optimizer update (ours: Adafactor as spec model.md §3.2;
HF: transformers' Adafactor with relative steps off, the closest stock equivalent). Both use packed-like
full rows of random tokens, dropout 0.1, the same batch and lengths. Prints tokens/s for each, the ratio,
and, on a GPU, model FLOP/s and MFU (FLOPs from spec M30, training = 3 x forward; peak from --peak-tflops, else
the device's dense bf16 peak from t5repro.train.throughput's table).

    python benchmarks/train_step.py                                   # CPU: Small-like dims, 512/114, batch 4
    python benchmarks/train_step.py --model base --batch 128 --dtype bfloat16 --peak-tflops 989   # H100
    python benchmarks/train_step.py --side ours --steps 2 --profile /tmp/trace   # + time per XLA fusion
    python benchmarks/train_step.py --model base --batch 128 --dtype bfloat16 --attention cudnn --side ours  # GPU

The PyTorch side needs `torch` and `transformers` (test extras; skipped with a note when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import jax
import jax.numpy as jnp
import numpy as np

from t5repro.models.config import ATTENTION_IMPLS, T5Config
from t5repro.models.info import flops_per_example, param_count
from t5repro.models.t5 import T5
from t5repro.train.partitioning import Partitioner
from t5repro.train.throughput import device_peak_tflops
from t5repro.train.trainer import TrainConfig, _cached_layout, _recipe, fresh_state, make_train_step

SIZES = {  # d_model, d_ff, heads, d_kv, layers (spec model.md §1.1)
    "small": (512, 2048, 8, 64, 6),
    "base": (768, 3072, 12, 64, 12),
    "large": (1024, 4096, 16, 64, 24),
}


def make_config(name: str, dtype: str, vocab: int, attention: str = "einsum") -> T5Config:
    d, f, h, dkv, layers = SIZES[name]
    return T5Config(vocab_size=vocab, d_model=d, d_ff=f, num_heads=h, d_kv=dkv, num_encoder_layers=layers,
                    num_decoder_layers=layers, dropout_rate=0.1, dtype=dtype, attention_impl=attention)


def batch(b: int, s_in: int, s_t: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Full rows of random ids (no padding), one segment per row: the densest packed batch."""
    rng = np.random.default_rng(seed)
    enc = rng.integers(3, vocab - 100, size=(b, s_in), dtype=np.int32)
    tgt = rng.integers(3, vocab - 100, size=(b, s_t), dtype=np.int32)
    dec_in = np.concatenate([np.zeros((b, 1), np.int32), tgt[:, :-1]], axis=1)
    return {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in, "decoder_target_tokens": tgt,
            "decoder_loss_weights": np.ones_like(tgt, dtype=np.float32)}


def time_steps(step, n_warmup: int, n_steps: int) -> list[float]:
    for _ in range(n_warmup):
        step()
    times = []
    for _ in range(n_steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return times


def train_config(b: int, s_in: int, s_t: int, steps: int = 1) -> TrainConfig:
    """The trainer's settings for a timed step: constant learning rate, z-loss, no checkpoints or logging."""
    return TrainConfig.from_cfg({"steps": steps, "batch_size": b, "sequence_length": {"inputs": s_in, "targets": s_t},
                                 "pack": True, "schedule": "constant", "learning_rate": 1e-3, "warmup_steps": 0,
                                 "z_loss": 1e-4, "loss_normalizing_factor": None, "checkpoint_period": 10**9,
                                 "keep_checkpoints": None, "log_every": 10**9})


def abstract_step(cfg: T5Config, b: int, s_in: int, s_t: int, part: Partitioner | None = None):
    """The trainer's jitted step for `cfg` and its arguments as sharded abstract values (nothing allocated):
    `step, (state, batch, dropout_root, start_step)`, for tracing or ahead-of-time compiling on `part`'s mesh."""
    model, tcfg = T5(cfg), train_config(b, s_in, s_t)
    part = Partitioner.create(part)
    state = jax.eval_shape(lambda: fresh_state(model, tcfg, Partitioner.create(None), seed=0))
    state = jax.tree.map(lambda x, sh: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sh), state,
                         _cached_layout(model, _recipe(tcfg), part).shardings)
    data = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=part.batch_sharding)
            for k, v in batch(b, s_in, s_t, cfg.vocab_size).items()}
    scalar = {"sharding": part.replicated}
    return make_train_step(model, tcfg, None, part), (state, data, jax.ShapeDtypeStruct((2,), jnp.uint32, **scalar),
                                                      jax.ShapeDtypeStruct((), jnp.int32, **scalar))


def bench_ours(cfg: T5Config, b: int, s_in: int, s_t: int, warmup: int, steps: int,
               profile_dir: str | None = None) -> list[float]:
    model = T5(cfg)
    tcfg = train_config(b, s_in, s_t, steps)
    # The trainer's own layout: state created sharded on the default mesh (every device data parallel; one
    # device here), the batch placed with its sharding, the step compiled with explicit shardings (M82).
    part = Partitioner.create(None)
    state = fresh_state(model, tcfg, part, seed=0)
    data = part.shard_batch(batch(b, s_in, s_t, cfg.vocab_size), b)
    train_step = make_train_step(model, tcfg, None, part)
    root, zero = jax.random.PRNGKey(1), jnp.asarray(0, jnp.int32)
    holder = {"state": state}

    def step() -> None:
        holder["state"], metrics = train_step(holder["state"], data, root, zero)
        jax.block_until_ready(metrics["loss"])

    times = time_steps(step, warmup, steps)
    if profile_dir:  # one more step under the profiler, per XLA instruction (xla_profile.py)
        from xla_profile import profile_step

        hlo = train_step.lower(holder["state"], data, root, zero).compile().as_text()
        print(profile_step(step, hlo, profile_dir))
    return times


def bench_hf(cfg: T5Config, b: int, s_in: int, s_t: int, warmup: int, steps: int, dtype: str) -> list[float] | str:
    try:
        import torch
        from transformers import T5Config as HFConfig, T5ForConditionalGeneration
        from transformers.optimization import Adafactor
    except ImportError as e:  # the comparison needs the test extras
        return f"skipped: {e}"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    hf_cfg = HFConfig(vocab_size=cfg.vocab_size, d_model=cfg.d_model, d_ff=cfg.d_ff, num_heads=cfg.num_heads,
                      d_kv=cfg.d_kv, num_layers=cfg.num_encoder_layers, num_decoder_layers=cfg.num_decoder_layers,
                      relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                      feed_forward_proj="relu", tie_word_embeddings=True, decoder_start_token_id=0)
    model = T5ForConditionalGeneration(hf_cfg).to(device).train()
    opt = Adafactor(model.parameters(), lr=1e-3, scale_parameter=True, relative_step=False, warmup_init=False,
                    clip_threshold=1.0, decay_rate=-0.8, beta1=None, weight_decay=0.0)
    data = {k: torch.as_tensor(v, device=device) for k, v in batch(b, s_in, s_t, cfg.vocab_size).items()}
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def step() -> None:
        with autocast:
            out = model(input_ids=data["encoder_input_tokens"], decoder_input_ids=data["decoder_input_tokens"],
                        labels=data["decoder_target_tokens"].long())
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    return time_steps(step, warmup, steps)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(SIZES), default="small")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--inputs", type=int, default=512)
    p.add_argument("--targets", type=int, default=114)
    p.add_argument("--vocab", type=int, default=32128)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--attention", choices=list(ATTENTION_IMPLS), default="einsum",
                   help="ours: model.attention_impl (cudnn: fused flash attention, NVIDIA GPU, bfloat16)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="device peak for MFU (default: the device's dense bf16 peak if listed, e.g. H100 989)")
    p.add_argument("--no-hf", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--side", choices=["both", "ours", "hf"], default="both",
                   help="both: each side in its own subprocess (JAX and PyTorch must not share GPU memory)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--profile", default=None, metavar="DIR",
                   help="ours: trace one more step into DIR and print the time per XLA fusion (xla_profile.py)")
    a = p.parse_args(argv)
    if a.side == "both":
        return run_both(a, argv if argv is not None else sys.argv[1:])

    if a.side == "hf":
        # JAX only counts parameters here. Keep it off the accelerator: a GPU backend would take 75 % of the
        # GPU's memory at start-up (XLA_PYTHON_CLIENT_PREALLOCATE) and starve the PyTorch reference.
        jax.config.update("jax_platforms", "cpu")
    cfg = make_config(a.model, a.dtype, a.vocab, a.attention)
    tokens = a.batch * a.inputs  # input-side tokens per step (M50)
    flops = flops_per_example(cfg, a.inputs, a.targets)["training"] * a.batch
    kind = _hf_device_kind() if a.side == "hf" else jax.devices()[0].device_kind
    peak = a.peak_tflops or device_peak_tflops(kind)  # one device: the benchmark does not shard
    print(f"device: {kind} ({jax.default_backend()}), jax {jax.__version__}, {os.cpu_count()} CPUs; "
          f"peak {f'{peak:g} TFLOP/s' if peak else 'unknown (no MFU)'}")
    print(f"model: {a.model}, {param_count(cfg):,} params, dtype {a.dtype}; batch {a.batch} x {a.inputs}/{a.targets}; "
          f"{flops / 1e12:.2f} TFLOP per step (M30); ours' attention: {a.attention}")
    result: dict = {"args": vars(a), "params": param_count(cfg), "tflop_per_step": flops / 1e12}
    sides = {"ours": ("ours (JAX/Flax)", lambda: bench_ours(cfg, a.batch, a.inputs, a.targets, a.warmup, a.steps,
                                                                a.profile)),
             "hf": ("HF PyTorch", lambda: bench_hf(cfg, a.batch, a.inputs, a.targets, a.warmup, a.steps, a.dtype))}
    for name, fn in (sides[a.side],):
        try:
            times = fn()
        except Exception as e:  # e.g. out of memory at this batch size: report it, do not hide it
            traceback.print_exc(limit=-8)  # the whole error on stderr (a one-shot GPU run has no second look)
            times = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        if isinstance(times, str):
            print(f"{name:>16}: {times}")
            result[name] = times
            continue
        med = statistics.median(times)
        line = (f"{name:>16}: median {med * 1e3:8.1f} ms/step (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}, "
                f"n={len(times)}), {tokens / med:,.0f} input tokens/s")
        entry = {"median_s": med, "min_s": min(times), "max_s": max(times), "tokens_per_s": tokens / med}
        if peak:
            achieved = flops / med / 1e12
            line += f", {achieved:.1f} TFLOP/s, MFU {100 * achieved / peak:.1f}%"
            entry.update(tflops=achieved, mfu=achieved / peak)
        print(line)
        result[name] = entry
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


def _hf_device_kind() -> str:
    """The device PyTorch will run on, named as JAX names it (for the peak table)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def _without_json(argv: list[str]) -> list[str]:
    """argv minus `--json PATH` / `--json=PATH` (each child writes its own file)."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x == "--json":
            skip = True
        elif not x.startswith("--json="):
            out.append(x)
    return out


def run_both(a: argparse.Namespace, argv: list[str]) -> int:
    """Run each side in a fresh subprocess, then print the ratio of their median step times."""
    results = {}
    child_argv = _without_json(argv)
    for side in ("ours",) if a.no_hf else ("ours", "hf"):
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            rc = subprocess.call([sys.executable, __file__, *child_argv, "--side", side, "--json", tmp.name])
            results[side] = json.load(open(tmp.name)) if rc == 0 and os.path.getsize(tmp.name) else {}
    ours = results["ours"].get("ours (JAX/Flax)")
    hf = results.get("hf", {}).get("HF PyTorch")
    summary = {"ours": ours, "hf": hf}
    if isinstance(ours, dict) and isinstance(hf, dict):
        summary["ratio"] = hf["median_s"] / ours["median_s"]
        print(f"ratio (ours / HF tokens per second): {summary['ratio']:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
