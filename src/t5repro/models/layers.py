"""T5 v1.0 building blocks in Flax linen: RMSNorm, relative position bias, attention, FFN, block, stack.

Spec model.md §1 (M3-M24) and §6 (M79 logical axis names). Parameters are float32; activations use
`T5Config.dtype`; attention logits/softmax and norm statistics are float32 (M24).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax

from t5repro.models.config import ATTENTION_IMPLS, T5Config

Array = jax.Array
Initializer = Callable[..., Array]

NEG_INF = -1e9  # spec M10: additive mask value in float32
ADAPTER = "adapter"                        # §3.5.1 adapter sub-layer (wi [d, d_A], wo [d_A, d]), M55
ADAPTER_NORM = "pre_adapter_layer_norm"    # its own RMSNorm scale (M55, M58)
PARAM_DTYPE = jnp.float32  # spec M24 / M43: parameters and optimiser state are float32


# ----------------------------------------------------------------------------------------------
# Initialisers (spec M22 table)
# ----------------------------------------------------------------------------------------------

def mtf_truncated_normal(stddev: float) -> Initializer:
    """TF1/Mesh-TF truncated normal: cut at +-2 sigma, sigma is the PRE-truncation value (M22)."""

    def init(key: Array, shape: tuple[int, ...], dtype: Any = PARAM_DTYPE) -> Array:
        # Actual std is ~0.8796 * stddev (the MTF reference behaviour, spec M22 note).
        return jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) * jnp.asarray(stddev, dtype)

    return init


def _logical(init: Initializer, axes: tuple[str, ...]) -> Initializer:
    """Attach logical axis names (spec M79) so issue 5 can map them onto a ('data','model') mesh."""
    return nn.with_logical_partitioning(init, axes)


# ----------------------------------------------------------------------------------------------
# RMSNorm (M6)
# ----------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    """`x * rsqrt(mean(x^2) + eps) * scale` with float32 statistics; no mean, no bias (spec M6)."""

    epsilon: float = 1e-6
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        """Normalise over the last (embed) axis and cast to the activation dtype."""
        x32 = x.astype(jnp.float32)  # spec M6: statistics in float32
        var = jnp.mean(jnp.square(x32), axis=-1, keepdims=True)
        y = x32 * lax.rsqrt(var + self.epsilon)
        scale = self.param("scale", _logical(nn.initializers.ones, ("embed",)), (x.shape[-1],), PARAM_DTYPE)
        return (y * scale).astype(self.dtype)


# ----------------------------------------------------------------------------------------------
# Relative position buckets and bias (M17-M21)
# ----------------------------------------------------------------------------------------------

def relative_position_bucket(relative_position: np.ndarray | int, *, bidirectional: bool,
                             num_buckets: int = 32, max_distance: int = 128) -> np.ndarray:
    """Map rp = key - query to a bucket id on the host with NumPy (spec M17, M18; table M19)."""
    rp = np.asarray(relative_position, dtype=np.int64)
    n = -rp
    ret = np.zeros_like(n)
    if bidirectional:
        num_buckets //= 2  # 16 buckets per direction (M17)
        ret = ret + (n < 0).astype(np.int64) * num_buckets  # key after query -> upper half
        n = np.abs(n)
    else:
        n = np.maximum(n, 0)  # causal: all buckets face the past
    max_exact = num_buckets // 2
    is_small = n < max_exact
    # float32 + eps as in t5x; spec M18 checked it identical to float64 for all integer n.
    nf = np.maximum(n, 1).astype(np.float32)
    log_ratio = np.log(nf / np.float32(max_exact) + np.finfo(np.float32).eps) / np.float32(
        np.log(max_distance / max_exact))
    val_if_large = max_exact + (log_ratio * np.float32(num_buckets - max_exact)).astype(np.int64)
    val_if_large = np.minimum(val_if_large, num_buckets - 1)
    return (ret + np.where(is_small, n, val_if_large)).astype(np.int32)


@functools.lru_cache(maxsize=64)
def bucket_matrix(qlen: int, klen: int, bidirectional: bool, num_buckets: int, max_distance: int) -> np.ndarray:
    """[qlen, klen] bucket ids of rp = k - q for positions in a packed row (M10, M18: static constants)."""
    rp = np.arange(klen, dtype=np.int64)[None, :] - np.arange(qlen, dtype=np.int64)[:, None]
    out = relative_position_bucket(rp, bidirectional=bidirectional, num_buckets=num_buckets,
                                   max_distance=max_distance)
    out.setflags(write=False)
    return out


class RelativePositionBiases(nn.Module):
    """One learned scalar per (head, bucket), table [h, num_buckets] (spec M20); Glorot-uniform init (M22)."""

    num_heads: int
    num_buckets: int = 32
    max_distance: int = 128

    @nn.compact
    def __call__(self, qlen: int, klen: int, *, bidirectional: bool, query_offset: Array | None = None) -> Array:
        """Bias [1, h, qlen, klen] in float32; bucket mode is chosen by the model, not the mask (M21).

        `query_offset` (cached decoding, M76): the queries are positions offset .. offset+qlen-1 of a klen-long
        sequence, so their rows of its [klen, klen] bucket matrix are used.
        """
        table = self.param(
            "rel_embedding",
            _logical(nn.initializers.variance_scaling(1.0, "fan_avg", "uniform"), ("heads", "relpos_buckets")),
            (self.num_heads, self.num_buckets), PARAM_DTYPE)
        if query_offset is None:
            buckets = jnp.asarray(bucket_matrix(qlen, klen, bidirectional, self.num_buckets, self.max_distance))
        else:
            full = jnp.asarray(bucket_matrix(klen, klen, bidirectional, self.num_buckets, self.max_distance))
            buckets = lax.dynamic_slice_in_dim(full, query_offset, qlen, axis=0)
        # The lookup table[:, buckets] as a contraction with the buckets' one-hot (t5x does the same): its
        # gradient is a matmul instead of a scatter-add, which XLA:CPU ran as a slow transpose and reduce.
        # HIGHEST precision keeps the values exact where float32 matmuls would otherwise round (TF32).
        one_hot = (buckets[None] == jnp.arange(self.num_buckets)[:, None, None]).astype(table.dtype)
        values = jnp.einsum("hn,nqk->hqk", table, one_hot, precision=lax.Precision.HIGHEST)  # [h, q, k]
        return values[None].astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# Attention (M8, M9, M15, M76)
# ----------------------------------------------------------------------------------------------

def _sum_leading(g: Array) -> Array:
    """Sum over axis 0 keeping it (size 1), by pairwise halving: log2(B) contiguous element-wise adds."""
    while g.shape[0] > 1:
        half = g.shape[0] // 2
        rest = g[2 * half:]  # the odd row, if any
        g = g[:half] + g[half:2 * half]
        if rest.shape[0]:
            g = g.at[:1].add(rest)
    return g


@jax.custom_vjp
def add_position_bias(logits: Array, bias: Array) -> Array:
    """`logits [B,h,q,k] + bias [1,h,q,k]` whose bias gradient, on CPU, sums the batch by halving, not `reduce`.

    Hand-written because XLA:CPU's reduce over a leading axis runs far below memory bandwidth: the
    batch sum of the six encoder layers' [4,8,512,512] logit gradients took 250-450 ms of a 3-6 s
    T5-Small step (benchmarks/train_step.py); as element-wise adds it is one pass over memory.
    Values and gradients are those of the plain broadcast add (tests/models/test_t5_layers.py).
    """
    return logits + bias


def _add_position_bias_fwd(logits: Array, bias: Array) -> tuple[Array, Array]:
    return logits + bias, bias  # the bias only for its shape and dtype (it is live anyway: shared by layers)


def _add_position_bias_bwd(bias: Array, g: Array) -> tuple[Array, Array]:
    if bias.shape[0] != 1:
        return g, g.astype(bias.dtype)
    # The halving is for XLA:CPU; GPU and TPU reduce over the leading axis in one pass over memory.
    g_sum = _sum_leading(g) if jax.default_backend() == "cpu" else jnp.sum(g, axis=0, keepdims=True)
    return g, g_sum.astype(bias.dtype)


add_position_bias.defvjp(_add_position_bias_fwd, _add_position_bias_bwd)


def _dense(features: int, stddev: float, axes: tuple[str, str], dtype: Any, name: str,
           truncated: bool = False) -> nn.Dense:
    """A bias-free 2-D kernel [in, out] (spec M40: Adafactor factors one logical matrix)."""
    base = mtf_truncated_normal(stddev) if truncated else nn.initializers.normal(stddev)
    return nn.Dense(features, use_bias=False, dtype=dtype, param_dtype=PARAM_DTYPE,
                    kernel_init=_logical(base, axes), name=name)


def on_tokens(layer: Callable[[Array], Array], x: Array) -> Array:
    """Apply a [in, out] projection to x [..., in] as one [tokens, in] matrix, then restore the leading axes.

    Same values; written so because XLA:CPU compiles the weight gradient of a 3-D `[B, L, in] x [in, out]`
    contraction with a transposed copy of the activation gradient, and of the 2-D one without
    (a T5-Small MLP's forward and backward alone: 248 -> 134 ms; the whole step, benchmarks/README.md).
    """
    y = layer(x.reshape(-1, x.shape[-1]))
    return y.reshape(*x.shape[:-1], y.shape[-1])


def dropout(rate: float) -> nn.Dropout:
    """Inverted dropout whose mask is shared along axis -2 (sequence / query length), spec M15."""
    return nn.Dropout(rate=rate, broadcast_dims=(-2,))


class AttentionDropout(nn.Module):
    """Draws the attention-probability keep mask of spec M15: [B, h, 1, Lk], shared over queries.

    `attend` applies it to the probabilities (einsum path) or, for fused kernels that never expose
    them, to the values: a mask shared over queries scales whole key positions, so `(p * m) @ v ==
    p @ (m * v)`, the same function and gradients with the same draw (tests/models/test_t5_layers.py).
    """

    rate: float

    @nn.compact
    def __call__(self, batch: int, heads: int, k_len: int, *, deterministic: bool) -> Array | None:
        """Boolean keep mask [B, h, 1, Lk] (True = kept), or None in deterministic mode or at rate 0."""
        if deterministic or self.rate == 0.0:
            return None
        return jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.rate, (batch, heads, 1, k_len))


def _inverted_dropout(x: Array, keep: Array, keep_prob: float) -> Array:
    """Kept units scaled by 1/keep_prob, dropped ones zero (as nn.Dropout, spec M15); `keep` broadcasts."""
    return lax.select(jnp.broadcast_to(keep, x.shape), x / jnp.asarray(keep_prob, x.dtype), jnp.zeros_like(x))


def bf16_products(dtype: Any) -> lax.DotAlgorithmPreset | None:
    """The dot algorithm of a float32 result from bf16 activations: bf16 operands, float32 accumulation.

    With bf16 activations (M24) the attention logits (M8) and the output logits (M12) are float32. Forward,
    a product of bf16 values is exact in float32 either way; the preset also keeps the backward products
    (float32 gradient times bf16 activation) on bf16 operands, as jax.nn.dot_product_attention's XLA path
    does, where a GPU would otherwise run them in float32 (benchmarks/dot_census.py). None (the default
    precision) for float32 activations, whose products stay float32.
    """
    return lax.DotAlgorithmPreset.BF16_BF16_F32 if jnp.dtype(dtype) == jnp.bfloat16 else None


def attend(qh: Array, kh: Array, vh: Array, position_bias: Array | None, mask_bias: Array | None,
           keep: Array | None = None, keep_prob: float = 1.0, *, impl: str = "einsum") -> Array:
    """`Dropout(softmax(q k^T + position_bias + mask_bias)) v` per head; no 1/sqrt(d_kv) (M8).

    q [B,Lq,h,dk], k/v [B,Lk,h,dk]; `position_bias` [1, h, Lq, Lk] (M20) and `mask_bias` [B|1, 1, Lq, Lk]
    of 0 / NEG_INF (M10) are float32 (a [B|1, 1, 1, Lk] mask is key padding at the end of each row, as
    `t5.encoder_self_mask` and `t5.cross_mask` make it for unpacked rows); `keep` [B, h, 1, Lk] is
    AttentionDropout's mask (None: no dropout).
    `impl` (model.attention_impl):
      - "einsum" (the reference, M87): float32 logits and softmax materialised by XLA (M24), the mask on
        the probabilities;
      - "xla" / "cudnn": `jax.nn.dot_product_attention` with that implementation, scale 1, one additive
        bias (position + mask; key padding as key lengths) and the dropout mask on the values. "cudnn" is
        cuDNN's fused flash attention on NVIDIA GPUs (additive bias with gradient, as M87 requires); it
        needs bf16/fp16 activations and takes the bias in that dtype, a rounding of the float32 bias the
        einsum path does not make. "xla" is the same call on any backend, which is how the tests check
        the plumbing.
    """
    if impl == "einsum":
        logits = jnp.einsum("bqhd,bkhd->bhqk", qh, kh, preferred_element_type=jnp.float32,
                            precision=bf16_products(qh.dtype))
        if position_bias is not None:
            logits = add_position_bias(logits, position_bias)
        if mask_bias is not None:
            logits = logits + mask_bias
        probs = jax.nn.softmax(logits, axis=-1)
        if keep is not None:
            probs = _inverted_dropout(probs, keep, keep_prob)
        return jnp.einsum("bhqk,bkhd->bqhd", probs.astype(vh.dtype), vh)
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"model.attention_impl must be one of {ATTENTION_IMPLS}, got {impl!r}")
    if impl == "cudnn" and jax.default_backend() != "gpu":
        raise ValueError(f"model.attention_impl=cudnn needs an NVIDIA GPU, but JAX's backend is "
                         f"{jax.default_backend()}: use model.attention_impl=einsum (or xla)")
    if keep is not None:
        vh = _inverted_dropout(vh, jnp.transpose(keep, (0, 3, 1, 2)), keep_prob)  # [B, Lk, h, 1]
    bias, key_lengths = position_bias, None
    if mask_bias is not None and mask_bias.shape[2] == 1:
        # A mask over keys only is the padding of unpacked rows, which sits at the end of each row (seqio's
        # feature converters): it is passed as key lengths, so the bias stays the [1, h, Lq, Lk] position
        # bias instead of a [B, h, Lq, Lk] tensor read by the kernel and written back as its gradient (in
        # the H100 program of a Base step, ~5 GB a layer: benchmarks/gpu_roofline.py). A row with no real
        # key keeps one, where the einsum path spreads it over all keys: either way a padding row, zeroed
        # (M13) and weighted 0.
        key_lengths = jnp.broadcast_to(jnp.maximum(jnp.sum(mask_bias[:, 0, 0, :] == 0.0, axis=-1), 1),
                                       (qh.shape[0],)).astype(jnp.int32)
        mask_bias = None
    if mask_bias is not None:  # one additive bias, formed in float32 (JAX would form it in the kernel's dtype)
        full = (mask_bias.shape[0], qh.shape[2], qh.shape[1], kh.shape[1])  # the causal mask is [1, 1, T, T]
        if bias is None:  # cross-attention: cuDNN takes a bias of [B|1, h|1, Lq, Lk] only
            bias = jnp.broadcast_to(mask_bias, mask_bias.shape[:2] + full[2:])
        else:
            bias = add_position_bias(jnp.broadcast_to(mask_bias, full), bias)
    if bias is not None and impl == "cudnn":
        # cuDNN takes the bias in the activation dtype; its gradient comes back through this cast, so the
        # batch sum of the position bias's gradient still runs in float32.
        bias = bias.astype(qh.dtype)
    return jax.nn.dot_product_attention(qh, kh, vh, bias=bias, scale=1.0, implementation=impl,
                                        key_value_seq_lengths=key_lengths)


class MultiHeadAttention(nn.Module):
    """T5 attention: 2-D kernels [d, H]/[H, d], no 1/sqrt(d_kv) scaling, float32 softmax (spec M8)."""

    config: T5Config
    has_relative_bias: bool = False  # only the first block's self-attention owns rel_bias (M20)
    is_cross: bool = False           # cross-attention: no position bias (M9)

    @nn.compact
    def __call__(self, inputs_q: Array, inputs_kv: Array, mask_bias: Array | None = None,
                 position_bias: Array | None = None, *, bidirectional: bool = True,
                 deterministic: bool = True, decode: bool = False) -> tuple[Array, Array | None]:
        """Attend `inputs_q` [B,Lq,d] over `inputs_kv` [B,Lk,d]; return (output, position bias used)."""
        cfg = self.config
        dt = cfg.activation_dtype
        d, h, dk, big_h = cfg.d_model, cfg.num_heads, cfg.d_kv, cfg.H
        # spec M22: Wq std (d*d_kv)^-0.5 folds the 1/sqrt(d_kv) scale into the init; Wk, Wv d^-0.5; Wo H^-0.5.
        query = _dense(big_h, (d * dk) ** -0.5, ("embed", "joined_kv"), dt, "query")
        key = _dense(big_h, d ** -0.5, ("embed", "joined_kv"), dt, "key")
        value = _dense(big_h, d ** -0.5, ("embed", "joined_kv"), dt, "value")
        out = _dense(d, big_h ** -0.5, ("joined_kv", "embed"), dt, "out")

        batch, q_len = inputs_q.shape[0], inputs_q.shape[1]
        q = on_tokens(query, inputs_q)
        step_index = None
        if decode and self.is_cross:
            # spec M76: cross-attention K/V of the encoder output are computed once per input.
            ready = self.has_variable("cache", "cross_key")
            if ready:
                k = self.get_variable("cache", "cross_key")
                v = self.get_variable("cache", "cross_value")
            else:
                k, v = on_tokens(key, inputs_kv), on_tokens(value, inputs_kv)
                self.put_variable("cache", "cross_key", k)
                self.put_variable("cache", "cross_value", v)
        else:
            k, v = on_tokens(key, inputs_kv), on_tokens(value, inputs_kv)
            if decode:
                # spec M76: self-attention key/value cache, one position per step.
                ready = self.has_variable("cache", "cached_key")
                cached_key = self.variable("cache", "cached_key", jnp.zeros, k.shape, k.dtype)
                cached_value = self.variable("cache", "cached_value", jnp.zeros, v.shape, v.dtype)
                cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
                if ready:
                    # One step, or a chunk of positions (a decoder-only model's prompt, spec M28) for which
                    # the caller passes the whole mask over the cache [B|1, 1, q_len, cache length].
                    if q_len != 1 and mask_bias is None:
                        raise ValueError(f"cached decoding of {q_len} positions at once needs a mask over the cache")
                    step_index = cache_index.value
                    k = lax.dynamic_update_slice(cached_key.value, k.astype(cached_key.value.dtype),
                                                 (0, step_index, 0))
                    v = lax.dynamic_update_slice(cached_value.value, v.astype(cached_value.value.dtype),
                                                 (0, step_index, 0))
                    cached_key.value, cached_value.value = k, v
                    cache_index.value = step_index + q_len
                    if mask_bias is None:
                        # causal mask over the cache: keys j <= i (M10, M76)
                        keep = jnp.arange(k.shape[1]) <= step_index
                        mask_bias = jnp.where(keep, 0.0, NEG_INF).astype(jnp.float32)[None, None, None, :]
        k_len = k.shape[1]

        if self.has_relative_bias:
            rpb = RelativePositionBiases(cfg.num_heads, cfg.relative_attention_num_buckets,
                                         cfg.relative_attention_max_distance, name="relpos_bias")
            if step_index is not None:
                # spec M76: query at position i uses the buckets of rp = j - i for cached keys j.
                position_bias = rpb(q_len, k_len, bidirectional=bidirectional, query_offset=step_index)
            else:
                position_bias = rpb(q_len, k_len, bidirectional=bidirectional)

        qh = q.reshape(batch, q_len, h, dk)
        kh = k.reshape(batch, k_len, h, dk)
        vh = v.reshape(batch, k_len, h, dk).astype(dt)
        # spec M15 table: attention-probability mask [B,h,1,Lk], broadcast over the query axis.
        keep = AttentionDropout(cfg.dropout_rate, name="probs_dropout")(batch, h, k_len, deterministic=deterministic)
        # spec M8: no 1/sqrt(d_kv); logits and softmax in float32 (M24). Cached decoding stays on the
        # reference path: its one-query steps gain nothing from a fused kernel.
        ctx = attend(qh, kh, vh, None if self.is_cross else position_bias, mask_bias, keep, 1.0 - cfg.dropout_rate,
                     impl="einsum" if decode else cfg.attention_impl)
        return on_tokens(out, ctx.reshape(batch, q_len, big_h)), (None if self.is_cross else position_bias)


class MlpBlock(nn.Module):
    """FFN `wo . Dropout(ReLU(wi . x))`, no biases, hidden dropout broadcast over length (M7, M15).

    `hidden_dim` overrides d_ff: the §3.5.1 adapter is this block with width d_A (M55, M57).
    """

    config: T5Config
    hidden_dim: int | None = None

    @nn.compact
    def __call__(self, x: Array, *, deterministic: bool = True) -> Array:
        """Apply the ReLU feed-forward sub-layer to [B, L, d]."""
        cfg = self.config
        dt = cfg.activation_dtype
        f = cfg.d_ff if self.hidden_dim is None else int(self.hidden_dim)
        # spec M22: truncated normal at +-2 sigma, sigma = fan_in^-0.5 pre-truncation (MTF variant).
        hid = on_tokens(_dense(f, cfg.d_model ** -0.5, ("embed", "mlp"), dt, "wi", truncated=True), x)
        hid = nn.relu(hid)
        hid = dropout(cfg.dropout_rate)(hid, deterministic=deterministic)  # [B,1,f] mask (M15)
        return on_tokens(_dense(cfg.d_model, f ** -0.5, ("mlp", "embed"), dt, "wo", truncated=True), hid)


class Embed(nn.Module):
    """Shared token embedding E [V, d], normal(1.0) init, no sqrt(d) scaling (spec M3, M5, M22)."""

    config: T5Config

    def setup(self) -> None:
        cfg = self.config
        self.embedding = self.param("embedding", _logical(nn.initializers.normal(1.0), ("vocab", "embed")),
                                    (cfg.vocab_size, cfg.d_model), PARAM_DTYPE)

    def __call__(self, tokens: Array) -> Array:
        """Look up rows (a gather, spec M88) and cast to the activation dtype."""
        return jnp.take(self.embedding, tokens, axis=0).astype(self.config.activation_dtype)

    def attend(self, x: Array) -> Array:
        """Tied output logits `x . E^T` in float32 (spec M12; the caller applies d^-0.5).

        With bf16 activations the product takes bf16 operands (`bf16_products`; t5x's bf16 `attend` is
        bf16 throughout, output included); with float32 activations it is float32.
        """
        emb = self.embedding.astype(jnp.float32)
        precision = bf16_products(self.config.activation_dtype)
        return on_tokens(lambda t: jnp.einsum("td,vd->tv", t, emb, precision=precision,
                                              preferred_element_type=jnp.float32), x.astype(jnp.float32))


# ----------------------------------------------------------------------------------------------
# Block and stack (M3-M5, M13)
# ----------------------------------------------------------------------------------------------

def _zero_pad(x: Array, nonpad: Array | None) -> Array:
    """Zero the residual stream at padding positions (spec M13); `nonpad` is [B, L, 1] or None."""
    return x if nonpad is None else x * nonpad.astype(x.dtype)


class T5Block(nn.Module):
    """Pre-norm residual block: self-attention, optional cross-attention, FFN (spec M3, M4)."""

    config: T5Config
    has_cross_attention: bool = False
    has_relative_bias: bool = False

    @nn.compact
    def __call__(self, x: Array, self_mask_bias: Array | None, position_bias: Array | None,
                 encoded: Array | None = None, cross_mask_bias: Array | None = None,
                 nonpad: Array | None = None, *, bidirectional: bool, deterministic: bool = True,
                 decode: bool = False) -> tuple[Array, Array | None]:
        """`x <- x + Dropout(Sub(RMSNorm(x)))` per sub-layer; returns (x, shared position bias)."""
        cfg = self.config
        dt = cfg.activation_dtype

        def norm(name: str) -> RMSNorm:
            return RMSNorm(cfg.layer_norm_epsilon, dt, name=name)

        x = _zero_pad(x, nonpad)
        y = norm("pre_self_attention_layer_norm")(x)
        y, position_bias = MultiHeadAttention(cfg, has_relative_bias=self.has_relative_bias,
                                              name="self_attention")(
            y, y, self_mask_bias, position_bias, bidirectional=bidirectional, deterministic=deterministic,
            decode=decode)
        x = x + dropout(cfg.dropout_rate)(y, deterministic=deterministic)
        if self.has_cross_attention and encoded is not None:
            x = _zero_pad(x, nonpad)
            y = norm("pre_cross_attention_layer_norm")(x)
            y, _ = MultiHeadAttention(cfg, is_cross=True, name="encoder_decoder_attention")(
                y, encoded, cross_mask_bias, deterministic=deterministic, decode=decode)
            x = x + dropout(cfg.dropout_rate)(y, deterministic=deterministic)
        x = _zero_pad(x, nonpad)
        y = norm("pre_mlp_layer_norm")(x)
        y = MlpBlock(cfg, name="mlp")(y, deterministic=deterministic)
        x = x + dropout(cfg.dropout_rate)(y, deterministic=deterministic)
        if cfg.adapter_dim is not None:
            # spec M55: a complete pre-norm residual sub-layer after the FFN, FFN-shaped with width d_A and
            # FFN-initialised (M57: not identity), dropout at the FFN's sites (M15).
            x = _zero_pad(x, nonpad)
            y = norm(ADAPTER_NORM)(x)
            y = MlpBlock(cfg, hidden_dim=cfg.adapter_dim, name=ADAPTER)(y, deterministic=deterministic)
            x = x + dropout(cfg.dropout_rate)(y, deterministic=deterministic)
        return x, position_bias


class T5Stack(nn.Module):
    """Dropout(embeddings) -> blocks -> Dropout(RMSNorm_final) (spec M5); one rel_bias per stack (M20)."""

    config: T5Config
    num_layers: int
    has_cross_attention: bool = False

    @nn.compact
    def __call__(self, x: Array, self_mask_bias: Array | None, encoded: Array | None = None,
                 cross_mask_bias: Array | None = None, nonpad: Array | None = None, *,
                 bidirectional: bool, deterministic: bool = True, decode: bool = False) -> Array:
        """Run the stack on embedded tokens [B, L, d]; Python loop over layers, no nn.scan (M40)."""
        cfg = self.config
        x = dropout(cfg.dropout_rate)(x, deterministic=deterministic)  # stack input, [B,1,d] mask
        position_bias = None
        for i in range(self.num_layers):
            x, position_bias = T5Block(cfg, has_cross_attention=self.has_cross_attention,
                                       has_relative_bias=(i == 0), name=f"layers_{i}")(
                x, self_mask_bias, position_bias, encoded, cross_mask_bias, nonpad,
                bidirectional=bidirectional, deterministic=deterministic, decode=decode)
        x = _zero_pad(x, nonpad)
        x = RMSNorm(cfg.layer_norm_epsilon, cfg.activation_dtype, name="final_layer_norm")(x)
        x = dropout(cfg.dropout_rate)(x, deterministic=deterministic)
        return _zero_pad(x, nonpad)
