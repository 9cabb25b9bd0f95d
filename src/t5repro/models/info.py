"""Parameter counts, FLOPs and memory of a T5 config (spec M23, M30, §7.1); CLI stage `model-info`."""

from __future__ import annotations

import math
from typing import Any

import jax

from t5repro.models.config import T5Config
from t5repro.models.t5 import T5, init_params


def param_count(config: T5Config) -> int:
    """Exact tied-embedding parameter count from the M23 formula (uses H = h*d_kv, never d)."""
    v, d, f, h, big_h = config.vocab_size, config.d_model, config.d_ff, config.num_heads, config.H
    nb = config.relative_attention_num_buckets
    le, ld = config.num_encoder_layers, config.num_decoder_layers
    n = (v * d + le * (4 * d * big_h + 2 * d * f + 2 * d) + ld * (8 * d * big_h + 2 * d * f + 3 * d)
         + 2 * (nb * h + d))
    if config.adapter_dim is not None:  # spec M56: (Le + Ld) * (2 d d_A + d)
        n += (le + ld) * (2 * d * int(config.adapter_dim) + d)
    return n


def eval_shape_param_count(config: T5Config) -> int:
    """Count the parameters the Flax module actually creates, via `jax.eval_shape` (no allocation)."""
    shapes = jax.eval_shape(lambda: init_params(T5(config), jax.random.PRNGKey(0)))
    return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)))


def flops_per_example(config: T5Config, input_length: int, target_length: int) -> dict[str, float]:
    """Matmul FLOPs of one (input, target) pair from M30; training = 3 x forward (no causal halving)."""
    d, f, big_h, v = config.d_model, config.d_ff, config.H, config.vocab_size
    le, ld = config.num_encoder_layers, config.num_decoder_layers
    s_in, s_t = input_length, target_length
    enc = s_in * le * (8 * d * big_h + 4 * s_in * big_h + 4 * d * f)
    dec = s_t * ld * (12 * d * big_h + 4 * s_t * big_h + 4 * s_in * big_h + 4 * d * f) + ld * s_in * 4 * d * big_h
    out = 2 * d * v * s_t
    fwd = enc + dec + out
    return {"encoder": float(enc), "decoder": float(dec), "output": float(out), "forward": float(fwd),
            "training": float(3 * fwd)}


def _vocab_size_from_cfg(cfg: Any) -> int | None:
    """Model rows when `model.vocab_size` is null: vocab pieces + extra ids, rounded later (M1, D36)."""
    vocab = cfg.get("vocab", None)
    if vocab is None or vocab.get("size", None) is None:
        return None
    return int(vocab.size) + int(vocab.get("extra_ids", 0) or 0)


def run(cfg: Any) -> None:
    """Print parameters, FLOPs per token (training ~ 3x forward) and fp32 parameter+gradient memory."""
    config = T5Config.from_cfg(cfg.model, vocab_size=_vocab_size_from_cfg(cfg))
    n = param_count(config)
    n_shape = eval_shape_param_count(config)
    if n != n_shape:
        raise ValueError(f"parameter count mismatch: M23 formula {n:,} vs module {n_shape:,}")
    seq = cfg.pretrain.sequence_length
    s_in, s_t = int(seq.inputs), int(seq.targets)
    batch = int(cfg.pretrain.batch_size)
    fl = flops_per_example(config, s_in, s_t)
    name = cfg.model.get("name", "?")
    rows = [
        ("model", f"{name} (d={config.d_model} f={config.d_ff} h={config.num_heads} d_kv={config.d_kv} "
                  f"H={config.H} L={config.num_encoder_layers}+{config.num_decoder_layers} V={config.vocab_size})"),
        ("parameters (M23)", f"{n:,}"),
        ("forward FLOPs / example", f"{fl['forward'] / 1e9:,.3f} GFLOP at {s_in}/{s_t} tokens "
                                    f"(enc {fl['encoder'] / 1e9:,.3f}, dec {fl['decoder'] / 1e9:,.3f}, "
                                    f"out {fl['output'] / 1e9:,.3f})"),
        ("training FLOPs / example", f"{fl['training'] / 1e9:,.3f} GFLOP (3 x forward, M30)"),
        ("training FLOPs / input token", f"{fl['training'] / s_in / 1e9:,.4f} GFLOP"),
        ("training FLOPs / (input+target) token", f"{fl['training'] / (s_in + s_t) / 1e9:,.4f} GFLOP"),
        ("training FLOPs / step", f"{fl['training'] * batch / 1e12:,.4f} TFLOP ({batch} rows)"),
        ("fp32 params + grads", f"{n * 4 * 2 / 2**30:,.3f} GiB (activations and optimizer state excluded)"),
        ("activation dtype", config.dtype),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
