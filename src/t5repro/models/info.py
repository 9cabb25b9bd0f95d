"""Parameter counts, FLOPs and memory of a T5 config per §3.2 architecture (spec M23, M25-M30, §7.1).

CLI stage `model-info` (`t5repro model-info model=base arch=prefix_lm`). Every function takes the `model`
group's config and a Table 2 architecture name (architectures.py); "6 layers" halves the model's stacks.
"""

from __future__ import annotations

import math
from typing import Any

import jax

from t5repro.models import architectures
from t5repro.models.config import T5Config

ENCODER_DECODER = "encoder_decoder"


def param_count(config: T5Config, arch: str = ENCODER_DECODER) -> int:
    """Exact tied-embedding parameter count (uses H = h*d_kv, never d).

    M23 encoder-decoder (and M26 with L/2), M25 shared encoder-decoder `V d + Ld (8dH + 2df + 3d) + 32h + d`,
    M27 LM and prefix LM `V d + L (4dH + 2df + 2d) + 32h + d`; adapters add `(2 d d_A + d)` per block (M56).
    """
    spec = architectures.get_architecture(arch)
    config = architectures.model_config(spec.name, config)
    v, d, f, h, big_h = config.vocab_size, config.d_model, config.d_ff, config.num_heads, config.H
    nb = config.relative_attention_num_buckets
    le, ld = config.num_encoder_layers, config.num_decoder_layers
    enc_block = 4 * d * big_h + 2 * d * f + 2 * d  # self-attention, FFN, 2 norms
    dec_block = 8 * d * big_h + 2 * d * f + 3 * d  # + cross-attention and its norm
    per_stack = nb * h + d                          # one rel_bias table, one final norm (M20)
    if spec.decoder_only:  # M27, M28: one stack of encoder-shaped (no cross-attention) blocks
        n, blocks = v * d + ld * enc_block + per_stack, ld
    elif config.shared_encoder_decoder:  # M25: the encoder owns nothing
        n, blocks = v * d + ld * dec_block + per_stack, ld
    else:  # M23
        n, blocks = v * d + le * enc_block + ld * dec_block + 2 * per_stack, le + ld
    if config.adapter_dim is not None:  # spec M56: (2 d d_A + d) per distinct block
        n += blocks * (2 * d * int(config.adapter_dim) + d)
    return n


def eval_shape_param_count(config: T5Config, arch: str = ENCODER_DECODER) -> int:
    """Count the parameters the Flax module actually creates, via `jax.eval_shape` (no allocation)."""
    model = architectures.build_model(arch, config)
    shapes = jax.eval_shape(lambda: architectures.init_params(model, jax.random.PRNGKey(0)))
    return int(sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)))


def flops_per_example(config: T5Config, input_length: int, target_length: int,
                      arch: str = ENCODER_DECODER) -> dict[str, float]:
    """Matmul FLOPs of one (input, target) pair from M30; training = 3 x forward (no causal halving).

    Encoder-decoders (any of the three) use F_enc + F_dec + F_out; the LM and prefix LM run one stack of
    L = num_decoder_layers blocks over S = S_in + S_t tokens (reported under "decoder", "encoder" is 0).
    With `config.adapter_dim` (§3.5.1's adapters, M55) each block also runs a DenseReluDense of width d_A:
    M30's FFN term 4df with f = d_A, added per block and token [derived]. Training stays 3 x forward whatever
    the trainable set (M30's model-FLOP convention, as for MFU).
    """
    spec = architectures.get_architecture(arch)
    config = architectures.model_config(spec.name, config)
    d, f, big_h, v = config.d_model, config.d_ff, config.H, config.vocab_size
    le, ld = config.num_encoder_layers, config.num_decoder_layers
    s_in, s_t = input_length, target_length
    ffn = 4 * d * (f + (config.adapter_dim or 0))  # per block and token: the FFN, plus the adapter's (M55)
    if spec.decoder_only:
        s = s_in + s_t
        enc = 0
        dec = s * ld * (8 * d * big_h + 4 * s * big_h + ffn)
        out = 2 * d * v * s
    else:
        enc = s_in * le * (8 * d * big_h + 4 * s_in * big_h + ffn)
        dec = (s_t * ld * (12 * d * big_h + 4 * s_t * big_h + 4 * s_in * big_h + ffn)
               + ld * s_in * 4 * d * big_h)
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
    base = T5Config.from_cfg(cfg.model, vocab_size=_vocab_size_from_cfg(cfg))
    arch = architectures.get_architecture(cfg.arch.name)
    config = architectures.model_config(arch.name, base)
    n = param_count(base, arch.name)
    n_shape = eval_shape_param_count(base, arch.name)
    if n != n_shape:
        raise ValueError(f"parameter count mismatch: formula {n:,} vs module {n_shape:,} ({arch.name})")
    seq = cfg.pretrain.sequence_length
    s_in, s_t = int(seq.inputs), int(seq.targets)
    batch = int(cfg.pretrain.batch_size)
    fl = flops_per_example(base, s_in, s_t, arch.name)
    lm_params = param_count(base, "decoder_only_lm")  # Table 2's P (M29)
    enc_dec_flops = flops_per_example(base, s_in, s_t)["forward"]  # Table 2's M (M29)
    name = cfg.model.get("name", "?")
    layers = (f"L={config.num_decoder_layers} (one stack over {s_in}+{s_t} tokens)" if arch.decoder_only
              else f"L={config.num_encoder_layers}+{config.num_decoder_layers}")
    split = ("" if arch.decoder_only else f"enc {fl['encoder'] / 1e9:,.3f}, ") + (
        f"{'stack' if arch.decoder_only else 'dec'} {fl['decoder'] / 1e9:,.3f}, out {fl['output'] / 1e9:,.3f}")
    rows = [
        ("model", f"{name} (d={config.d_model} f={config.d_ff} h={config.num_heads} d_kv={config.d_kv} "
                  f"H={config.H} {layers} V={config.vocab_size})"),
        ("architecture", f"{arch.name} (Table 2: {arch.table2_name}, spec {arch.spec})"),
        (f"parameters ({arch.spec if arch.name != ENCODER_DECODER else 'M23'})", f"{n:,}"),
        ("parameters / P (M29)", f"{n / lm_params:.3f} (P = the {base.num_decoder_layers}-layer LM, "
                                 f"{lm_params:,})"),
        ("forward FLOPs / example", f"{fl['forward'] / 1e9:,.3f} GFLOP at {s_in}/{s_t} tokens ({split})"),
        ("forward FLOPs / M (M29)", f"{fl['forward'] / enc_dec_flops:.3f} (M = the encoder-decoder's "
                                    f"{enc_dec_flops / 1e9:,.3f} GFLOP)"),
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
