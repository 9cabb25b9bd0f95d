"""Tests of the T5 building blocks: buckets (M17-M19), attention (M8), RMSNorm (M6), init (M22), dropout (M15)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from omegaconf import OmegaConf

from t5repro.models import T5, T5Config, init_params
from t5repro.models.layers import (NEG_INF, AttentionDropout, MultiHeadAttention, RMSNorm, add_position_bias, attend,
                                   bucket_matrix, dropout, on_tokens, relative_position_bucket)



def random_tokens(rng: np.random.Generator, shape: tuple[int, ...], vocab: int = 128) -> np.ndarray:
    """Token ids in [2, vocab): never pad (0) or EOS (1)."""
    return rng.integers(2, vocab, size=shape).astype(np.int32)


def _ranges_to_table(ranges: list[tuple[int, int, int]]) -> dict[int, int]:
    return {n: b for lo, hi, b in ranges for n in range(lo, hi + 1)}


# spec M19, bidirectional past side (n = -rp); exact 0-7, then the log ranges
BIDIR_LOG = [(8, 11, 8), (12, 15, 9), (16, 22, 10), (23, 31, 11), (32, 45, 12), (46, 63, 13), (64, 90, 14),
             (91, 400, 15)]
# spec M19, causal past side; exact 0-15
CAUSAL_LOG = [(16, 18, 16), (19, 20, 17), (21, 23, 18), (24, 26, 19), (27, 30, 20), (31, 34, 21), (35, 39, 22),
              (40, 45, 23), (46, 51, 24), (52, 58, 25), (59, 66, 26), (67, 76, 27), (77, 86, 28), (87, 98, 29),
              (99, 112, 30), (113, 400, 31)]


def test_bucket_table_bidirectional_m19() -> None:
    """Spec M19: bidirectional buckets on both sides, saturating at 91, bucket 16 never used."""
    expected = {n: n for n in range(8)} | _ranges_to_table(BIDIR_LOG)
    ns = np.array(sorted(expected))
    past = relative_position_bucket(-ns, bidirectional=True)
    np.testing.assert_array_equal(past, [expected[n] for n in ns])
    fut = ns[ns > 0]
    np.testing.assert_array_equal(relative_position_bucket(fut, bidirectional=True),
                                  [expected[n] + 16 for n in fut])
    all_rp = np.arange(-1000, 1001)
    assert 16 not in set(relative_position_bucket(all_rp, bidirectional=True).tolist())


def test_bucket_table_causal_m19() -> None:
    """Spec M19: causal buckets: exact below 16, log ranges to 31 from 113, future keys -> 0."""
    expected = {n: n for n in range(16)} | _ranges_to_table(CAUSAL_LOG)
    ns = np.array(sorted(expected))
    np.testing.assert_array_equal(relative_position_bucket(-ns, bidirectional=False), [expected[n] for n in ns])
    np.testing.assert_array_equal(relative_position_bucket(np.arange(1, 300), bidirectional=False), 0)


def test_bucket_worked_examples_m19() -> None:
    """Spec M19 worked-examples table (rp = key - query)."""
    rp = np.array([-200, -20, -5, -3, 0, 3, 5, 20, 200])
    np.testing.assert_array_equal(relative_position_bucket(rp, bidirectional=True), [15, 10, 5, 3, 0, 19, 21, 26, 31])
    np.testing.assert_array_equal(relative_position_bucket(rp, bidirectional=False), [31, 17, 5, 3, 0, 0, 0, 0, 0])


def test_bucket_matrix_is_key_minus_query() -> None:
    """Spec M10/M17: entry [q, k] is the bucket of rp = k - q (a host-side constant, M18)."""
    m = bucket_matrix(5, 7, True, 32, 128)
    assert isinstance(m, np.ndarray) and m.shape == (5, 7)
    assert m[3, 0] == relative_position_bucket(-3, bidirectional=True)
    assert m[0, 3] == relative_position_bucket(3, bidirectional=True) == 19


def test_rmsnorm_float32_statistics_no_mean_m6() -> None:
    """Spec M6: y = x * rsqrt(mean(x^2) + eps) * scale; no mean subtraction; stats in float32."""
    x = jnp.asarray(np.random.default_rng(0).normal(3.0, 2.0, (2, 5, 8)), jnp.float32)
    norm = RMSNorm(1e-6, jnp.float32)
    params = norm.init(jax.random.PRNGKey(0), x)
    np.testing.assert_array_equal(params["params"]["scale"].unbox(), np.ones(8))
    y = norm.apply(params, x)
    xn = np.asarray(x, np.float64)
    ref = xn / np.sqrt(np.mean(xn**2, -1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(np.asarray(y), ref, rtol=1e-5)
    yb = RMSNorm(1e-6, jnp.bfloat16).apply(params, x.astype(jnp.bfloat16))
    assert yb.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(yb, np.float32), ref, rtol=2e-2, atol=2e-2)


def test_attention_hand_computed_no_scaling_m8() -> None:
    """Spec M8: logits = q.k^T + rel_bias (no 1/sqrt(d_kv)); float32 softmax; concat heads . Wo."""
    cfg = T5Config(vocab_size=128, d_model=8, d_ff=16, num_heads=2, d_kv=6, num_encoder_layers=1,
                   num_decoder_layers=1, dropout_rate=0.0)
    attn = MultiHeadAttention(cfg, has_relative_bias=True)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(1, 5, 8)), jnp.float32)
    variables = nn.unbox(attn.init(jax.random.PRNGKey(0), x, x, bidirectional=True))
    out, bias = attn.apply(variables, x, x, bidirectional=True)
    p = jax.tree_util.tree_map(np.asarray, variables["params"])
    wq, wk, wv, wo = (p[n]["kernel"].astype(np.float64) for n in ("query", "key", "value", "out"))
    assert wq.shape == (8, 12) and wo.shape == (12, 8)  # 2-D kernels [d, H], [H, d] (M40)
    table = p["relpos_bias"]["rel_embedding"]  # [h, 32]
    xn = np.asarray(x[0], np.float64)
    q, k, v = (xn @ w for w in (wq, wk, wv))
    buckets = relative_position_bucket(np.arange(5)[None, :] - np.arange(5)[:, None], bidirectional=True)
    heads = []
    for hh in range(2):
        sl = slice(6 * hh, 6 * hh + 6)
        logits = q[:, sl] @ k[:, sl].T + table[hh][buckets]
        pr = np.exp(logits - logits.max(-1, keepdims=True))
        pr /= pr.sum(-1, keepdims=True)
        heads.append(pr @ v[:, sl])
    ref = np.concatenate(heads, -1) @ wo
    np.testing.assert_allclose(np.asarray(out[0]), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bias[0, 1]), table[1][buckets], rtol=1e-6)


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 7])
def test_position_bias_add_has_the_broadcast_adds_values_and_gradients(batch: int, backend: str, monkeypatch) -> None:
    """`add_position_bias` (the batch sum of its bias gradient by halving, a CPU speed-up; a plain sum on other
    backends) equals `logits + bias`: values, the logits gradient and the bias gradient (odd batch sizes too)."""
    monkeypatch.setattr(jax, "default_backend", lambda: backend)  # read when the gradient is traced
    rng = np.random.default_rng(batch)
    logits = jnp.asarray(rng.normal(size=(batch, 3, 4, 5)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=(1, 3, 4, 5)), jnp.float32)
    weight = jnp.asarray(rng.normal(size=(batch, 3, 4, 5)), jnp.float32)  # a cotangent that differs per row

    def loss(f):
        return lambda lg, b: jnp.sum(jnp.tanh(f(lg, b)) * weight)

    ours = jax.jit(jax.value_and_grad(loss(add_position_bias), argnums=(0, 1)))(logits, bias)
    ref = jax.value_and_grad(loss(lambda lg, b: lg + b), argnums=(0, 1))(logits, bias)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-6)
    for g, r in zip(ours[1], ref[1]):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    # a bias with a full batch axis (no broadcast) gets the per-row gradient
    full = jnp.broadcast_to(bias, logits.shape)
    g_full = jax.grad(loss(add_position_bias), argnums=1)(logits, full)
    np.testing.assert_allclose(g_full, jax.grad(loss(lambda lg, b: lg + b), argnums=1)(logits, full), rtol=1e-6)


def test_projection_on_token_matrix_equals_the_3d_projection() -> None:
    """`on_tokens` (a [tokens, in] matrix for XLA:CPU's weight gradients) keeps values and leading axes."""
    dense = nn.Dense(6, use_bias=False)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 4)), jnp.float32)
    params = dense.init(jax.random.PRNGKey(0), x)
    y = on_tokens(lambda t: dense.apply(params, t), x)
    assert y.shape == (2, 3, 6)
    np.testing.assert_allclose(y, dense.apply(params, x), rtol=1e-6)


def test_only_first_block_owns_rel_bias_and_cross_has_none_m20(tiny_config, tiny_params) -> None:
    """Spec M20/M9: one rel_bias [h, 32] per stack, in block 0's self-attention; none in cross-attention."""
    flat = {"/".join(k): v for k, v in _flatten(tiny_params).items()}
    owners = sorted(k for k in flat if "relpos_bias" in k)
    assert owners == ["decoder/layers_0/self_attention/relpos_bias/rel_embedding",
                      "encoder/layers_0/self_attention/relpos_bias/rel_embedding"]
    for k in owners:
        assert flat[k].shape == (tiny_config.num_heads, 32)


def _flatten(tree, prefix=()):
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, prefix + (k,)))
        else:
            out[prefix + (k,)] = v
    return out


def test_all_kernels_are_2d_with_joined_kv_m40(tiny_config, tiny_params) -> None:
    """Spec M40: every attention kernel is [d, H] or [H, d] (H = 64 != d = 32 here, M1); no 3-D kernels."""
    d, big_h = tiny_config.d_model, tiny_config.H
    assert big_h != d
    n_attn = 0
    for path, v in _flatten(tiny_params).items():
        assert v.ndim <= 2, path
        assert v.dtype == jnp.float32, path  # M24: float32 parameters
        if path[-2] in ("query", "key", "value"):
            assert v.shape == (d, big_h), path
            n_attn += 1
        elif path[-2] == "out":
            assert v.shape == (big_h, d), path
            n_attn += 1
    # (Le self + Ld self + Ld cross) attentions x 4 kernels
    assert n_attn == 4 * (tiny_config.num_encoder_layers + 2 * tiny_config.num_decoder_layers)


def test_init_stds_m22() -> None:
    """Spec M22: empirical stds within 5 % (MTF truncated normal: actual std ~0.8796 sigma, |x| <= 2 sigma)."""
    cfg = T5Config(vocab_size=512, d_model=256, d_ff=1024, num_heads=16, d_kv=16, num_encoder_layers=1,
                   num_decoder_layers=1)
    p = jax.jit(lambda key: init_params(T5(cfg), key))(jax.random.PRNGKey(3))
    d, f, h, dk, big_h = 256, 1024, 16, 16, 256
    trunc = 0.8796  # std of a standard normal truncated at +-2
    attn = p["encoder"]["layers_0"]["self_attention"]
    cross = p["decoder"]["layers_0"]["encoder_decoder_attention"]
    mlp = p["decoder"]["layers_0"]["mlp"]
    cases = {
        "embedding": (p["token_embedder"]["embedding"], 1.0),
        "q": (attn["query"]["kernel"], (d * dk) ** -0.5),
        "cross q": (cross["query"]["kernel"], (d * dk) ** -0.5),
        "k": (attn["key"]["kernel"], d ** -0.5),
        "v": (cross["value"]["kernel"], d ** -0.5),
        "o": (attn["out"]["kernel"], big_h ** -0.5),
        "wi": (mlp["wi"]["kernel"], trunc * d ** -0.5),
        "wo": (mlp["wo"]["kernel"], trunc * f ** -0.5),
    }
    for name, (w, std) in cases.items():
        got = float(np.std(np.asarray(w)))
        assert abs(got / std - 1) < 0.05, (name, got, std)
    assert float(np.max(np.abs(mlp["wi"]["kernel"]))) <= 2 * d ** -0.5 + 1e-7
    assert float(np.max(np.abs(mlp["wo"]["kernel"]))) <= 2 * f ** -0.5 + 1e-7
    # Wq differs from Wk by the folded 1/sqrt(d_kv) (M8): a standard init would make them equal.
    assert float(np.std(attn["key"]["kernel"])) / float(np.std(attn["query"]["kernel"])) == pytest.approx(4.0, rel=0.05)
    rel = np.asarray(attn["relpos_bias"]["rel_embedding"])
    bound = np.sqrt(6 / (h + 32))
    assert np.max(np.abs(rel)) <= bound and np.max(np.abs(rel)) > 0.9 * bound
    assert abs(np.std(rel) / (bound / np.sqrt(3)) - 1) < 0.05
    np.testing.assert_array_equal(p["encoder"]["final_layer_norm"]["scale"], 1.0)


def test_dropout_helper_broadcasts_over_axis_minus_2_m15() -> None:
    """Spec M15: [B,L,d] masks are shared over L; [B,h,q,k] probability masks are shared over q."""
    x = jnp.ones((3, 7, 40))
    y = dropout(0.5).apply({}, x, deterministic=False, rngs={"dropout": jax.random.PRNGKey(0)})
    zeros = np.asarray(y) == 0
    assert zeros.any() and not zeros.all()
    assert (zeros == zeros[:, :1, :]).all()
    np.testing.assert_allclose(np.asarray(y)[~zeros], 2.0)  # inverted dropout: kept / (1 - rate)
    np.testing.assert_array_equal(dropout(0.5).apply({}, x, deterministic=True), x)


def test_every_dropout_site_uses_length_broadcast_masks_m14_m15(tiny_config, tiny_params) -> None:
    """Spec M14/M15: in train mode each dropout site's keep-mask is identical at every position of a row.

    Sub-layer sites are nn.Dropout on [B, L, d|f] (mask shared over L, axis -2). The attention-probability
    sites draw AttentionDropout's [B, h, 1, Lk] mask, which `attend` applies (the next tests).
    """
    rng = np.random.default_rng(0)
    enc, dec = random_tokens(rng, (2, 9)), random_tokens(rng, (2, 6))
    model = T5(tiny_config.replace(dropout_rate=0.3))

    @jax.jit
    def run(params, key):
        pairs, masks = [], []

        def interceptor(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if context.method_name == "__call__" and isinstance(context.module, nn.Dropout):
                pairs.append((args[0], out))
            if context.method_name == "__call__" and isinstance(context.module, AttentionDropout):
                masks.append(out)
            return out

        with nn.intercept_methods(interceptor):
            model.apply({"params": params}, enc, dec, deterministic=False, rngs={"dropout": key})
        return pairs, masks

    pairs, masks = run(tiny_params, jax.random.PRNGKey(1))
    records = [(np.asarray(i, np.float64), np.asarray(o, np.float64)) for i, o in pairs]
    le, ld = tiny_config.num_encoder_layers, tiny_config.num_decoder_layers
    # stack input + final (x2 stacks); enc block: 2 residuals, ffn hidden; dec block adds a cross residual
    assert len(records) == 2 * 2 + 3 * le + 4 * ld
    n_dropped = 0
    for inp, out in records:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(inp != 0, out / inp, np.nan)
        lo = np.fmin.reduce(ratio, axis=-2)  # NaN only where a unit is 0 at every position
        hi = np.fmax.reduce(ratio, axis=-2)
        ok = np.isnan(lo) | np.isclose(lo, hi, rtol=1e-4, atol=0)  # float32 rounding of x / 0.7
        assert ok.all(), "dropout mask varies along the sequence/query axis"
        n_dropped += int(np.sum(lo == 0))
    assert n_dropped > 0
    # attention probabilities: encoder self, decoder self and cross; one draw per (row, head, key)
    h = tiny_config.num_heads
    shapes = sorted(tuple(m.shape) for m in masks)
    assert shapes == sorted([(2, h, 1, 9)] * (le + ld) + [(2, h, 1, 6)] * ld)
    assert all(m.dtype == jnp.bool_ for m in masks)
    dropped = np.mean([1 - np.mean(np.asarray(m)) for m in masks])
    assert 0.15 < dropped < 0.45  # rate 0.3


def _attention_inputs(seed: int, b: int = 3, lq: int = 6, lk: int = 8, h: int = 2, dk: int = 4):
    rng = np.random.default_rng(seed)
    q, k, v = (jnp.asarray(rng.normal(size=(b, n, h, dk)), jnp.float32) for n in (lq, lk, lk))
    pos = jnp.asarray(rng.normal(size=(1, h, lq, lk)), jnp.float32)
    allowed = rng.random((b, 1, lq, lk)) < 0.7
    allowed[..., 0] = True  # every query sees a key
    mask_bias = jnp.asarray(np.where(allowed, 0.0, NEG_INF), jnp.float32)
    return q, k, v, pos, mask_bias


@pytest.mark.parametrize("impl", ["einsum", "xla"])
def test_attention_dropout_is_a_probability_mask_shared_over_queries_m15(impl: str) -> None:
    """Spec M15: `attend` with a keep mask equals softmax probabilities times the [B,h,1,Lk] mask / 0.6,
    outputs and gradients; the fused path applies it to the values, the same function."""
    q, k, v, pos, mask_bias = _attention_inputs(3)
    keep = AttentionDropout(0.4).apply({}, q.shape[0], q.shape[2], k.shape[1], deterministic=False,
                                       rngs={"dropout": jax.random.PRNGKey(7)})
    assert keep.shape == (q.shape[0], q.shape[2], 1, k.shape[1]) and 0 < float(jnp.mean(keep)) < 1

    def got(q, k, v, pos):
        return attend(q, k, v, pos, mask_bias, keep, 0.6, impl=impl)

    def want(q, k, v, pos):
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, precision="highest") + pos + mask_bias
        probs = jax.nn.softmax(logits, axis=-1) * jnp.where(keep, 1 / 0.6, 0.0)
        return jnp.einsum("bhqk,bkhd->bqhd", probs, v, precision="highest")

    np.testing.assert_allclose(got(q, k, v, pos), want(q, k, v, pos), rtol=1e-5, atol=1e-6)
    loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
    for g, w in zip(jax.grad(loss(got), (0, 1, 2, 3))(q, k, v, pos), jax.grad(loss(want), (0, 1, 2, 3))(q, k, v, pos)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    assert AttentionDropout(0.4).apply({}, 2, 2, 5, deterministic=True) is None


def test_fused_attention_call_matches_the_einsum_reference_m87() -> None:
    """Spec M87: jax.nn.dot_product_attention with scale 1, the position bias and a boolean mask gives the
    einsum path's outputs and gradients (position bias included): the call model.attention_impl=cudnn makes
    on a GPU, run here with implementation="xla"."""
    q, k, v, pos, mask_bias = _attention_inputs(4)

    def run(impl):
        def f(q, k, v, pos):
            return attend(q, k, v, pos, mask_bias, impl=impl)
        return f(q, k, v, pos), jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))), (0, 1, 2, 3))(q, k, v, pos)

    (ref, ref_grads), (got, got_grads) = run("einsum"), run("xla")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    for g, r in zip(got_grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="attention_impl"):
        attend(q, k, v, pos, mask_bias, impl="flash")
    if jax.default_backend() != "gpu":
        with pytest.raises(ValueError, match="attention_impl=cudnn needs an NVIDIA GPU"):
            attend(q.astype(jnp.bfloat16), k.astype(jnp.bfloat16), v.astype(jnp.bfloat16), pos, mask_bias,
                   impl="cudnn")


def _key_padding_mask(lengths: list[int], lk: int) -> jax.Array:
    """[B, 1, 1, Lk] bias of rows padded at the end, as t5.encoder_self_mask / cross_mask make it."""
    keep = np.arange(lk)[None, :] < np.asarray(lengths)[:, None]
    return jnp.asarray(np.where(keep, 0.0, NEG_INF), jnp.float32)[:, None, None, :]


@pytest.mark.parametrize("mask", ["segments [B,1,Lq,Lk]", "key padding [B,1,1,Lk]", "causal [1,1,Lq,Lk]"])
@pytest.mark.parametrize("with_position_bias", [True, False])  # self-attention; cross-attention (mask only)
def test_fused_attention_takes_the_bias_layout_cudnn_takes_m87(monkeypatch, with_position_bias: bool,
                                                                mask: str) -> None:
    """cuDNN's attention takes one bias of shape [B|1, h|1, Lq, Lk]: JAX's check_layout rejected the
    [B,1,1,Lk] padding mask of cross-attention when the step was compiled for a compile-only H100
    (benchmarks/gpu_roofline.py). Key padding goes in as key lengths, so the bias stays the position bias
    ([1,h,Lq,Lk], no batch axis); the causal mask is added without a batch axis. Checked on the call
    `attend` makes (the same for implementation="xla"), against the einsum path, outputs and gradients."""
    q, k, v, pos, mask_bias = _attention_inputs(8)
    b, lq, h, _ = q.shape
    lk = k.shape[1]
    if mask.startswith("key padding"):
        mask_bias = _key_padding_mask([lk, 3, 1], lk)
    elif mask.startswith("causal"):
        mask_bias = jnp.asarray(np.where(np.tril(np.ones((lq, lk), bool)), 0.0, NEG_INF), jnp.float32)[None, None]
    pos = pos if with_position_bias else None
    calls = []
    real = jax.nn.dot_product_attention

    def spy(*args, bias=None, key_value_seq_lengths=None, **kwargs):
        calls.append((None if bias is None else bias.shape, key_value_seq_lengths))
        return real(*args, bias=bias, key_value_seq_lengths=key_value_seq_lengths, **kwargs)

    monkeypatch.setattr(jax.nn, "dot_product_attention", spy)
    keep = AttentionDropout(0.3).apply({}, b, h, lk, deterministic=False, rngs={"dropout": jax.random.PRNGKey(1)})

    def run(impl):
        def f(q, k, v, pos):
            return attend(q, k, v, pos, mask_bias, keep, 0.7, impl=impl)
        argnums = (0, 1, 2, 3) if with_position_bias else (0, 1, 2)
        return f(q, k, v, pos), jax.grad(lambda *a: jnp.sum(jnp.sin(f(*a))), argnums)(q, k, v, pos)

    (want, want_grads), (got, got_grads) = run("einsum"), run("xla")
    shape, lengths = calls[0]
    if mask.startswith("key padding"):
        assert shape == (None if pos is None else (1, h, lq, lk))
        np.testing.assert_array_equal(np.asarray(lengths), [lk, 3, 1])
    else:
        assert lengths is None and shape[2:] == (lq, lk)
        assert shape[0] == (1 if mask.startswith("causal") else b) and shape[1] in (1, h)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(jax.default_backend() != "gpu", reason="cuDNN attention needs an NVIDIA GPU (benchmarks/gpu_mfu.sh "
                                                            "runs this test there)")
@pytest.mark.parametrize("with_position_bias", [True, False])  # self-attention; cross-attention (mask only)
def test_cudnn_attention_matches_einsum_on_gpu_m87(with_position_bias: bool) -> None:
    """Spec M87 on a GPU: cuDNN's fused attention gives the einsum path's output and gradients in bf16, the
    position bias's included (a bias gradient dropped by the kernel would leave T5's relative bias untrained)."""
    q, k, v, pos, mask_bias = _attention_inputs(5, b=4, lq=64, lk=128, h=4, dk=64)
    q, k, v = (x.astype(jnp.bfloat16) for x in (q, k, v))
    pos = pos if with_position_bias else None
    if not with_position_bias:  # cross-attention's mask is the encoder's padding, [B, 1, 1, Lk] (key lengths)
        mask_bias = _key_padding_mask([128, 100, 64, 1], 128)
    keep = AttentionDropout(0.1).apply({}, 4, 4, 128, deterministic=False, rngs={"dropout": jax.random.PRNGKey(2)})
    weight = jnp.asarray(np.random.default_rng(6).normal(size=q.shape), jnp.float32)

    def run(impl):
        def loss(q, k, v, pos):
            return jnp.sum(attend(q, k, v, pos, mask_bias, keep, 0.9, impl=impl).astype(jnp.float32) * weight)
        argnums = (0, 1, 2, 3) if with_position_bias else (0, 1, 2)
        return jax.jit(jax.value_and_grad(loss, argnums))(q, k, v, pos)

    (ref_loss, ref_grads), (got_loss, got_grads) = run("einsum"), run("cudnn")
    assert float(got_loss) == pytest.approx(float(ref_loss), rel=2e-2, abs=1e-1)
    for got, ref in zip(got_grads, ref_grads):
        got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        assert np.linalg.norm(ref) > 0 and np.linalg.norm(got - ref) <= 3e-2 * np.linalg.norm(ref)


def test_attention_impl_is_validated_by_the_config_m87(tiny_config) -> None:
    """model.attention_impl: unknown names and cudnn without bf16/fp16 activations fail at config time."""
    with pytest.raises(ValueError, match="model.attention_impl must be one of"):
        tiny_config.replace(attention_impl="flash")
    with pytest.raises(ValueError, match="needs model.dtype bfloat16"):
        tiny_config.replace(attention_impl="cudnn", dtype="float32")
    assert tiny_config.replace(attention_impl="cudnn", dtype="bfloat16").attention_impl == "cudnn"
    # every conf/model size names the reference path; a Hydra override reaches the config
    for path in sorted((Path(__file__).resolve().parents[2] / "conf" / "model").glob("*.yaml")):
        model_cfg = OmegaConf.load(path)
        assert T5Config.from_cfg(model_cfg, vocab_size=128).attention_impl == "einsum", path.name
    model_cfg.attention_impl = "xla"
    assert T5Config.from_cfg(model_cfg, vocab_size=128).attention_impl == "xla"


def test_model_with_fused_attention_call_matches_einsum(tiny_config, tiny_params) -> None:
    """The whole model (padding, packed segments, causal decoder, cross-attention) through
    attention_impl=xla equals the reference path, so only the kernel changes with cudnn."""
    rng = np.random.default_rng(6)
    enc, dec = random_tokens(rng, (2, 9)), random_tokens(rng, (2, 6))
    enc[1, 7:] = 0
    dec[1, 5:] = 0
    enc_seg = np.array([[1, 1, 1, 1, 2, 2, 2, 2, 2], [1] * 7 + [0, 0]], np.int32)  # row 0: two packed examples
    dec_seg = np.array([[1, 1, 1, 2, 2, 2], [1] * 5 + [0]], np.int32)

    def logits(cfg, deterministic=True):
        return np.asarray(T5(cfg).apply({"params": tiny_params}, enc, dec, enc_seg, dec_seg,
                                        deterministic=deterministic, rngs={"dropout": jax.random.PRNGKey(3)}))

    fused = tiny_config.replace(attention_impl="xla")
    np.testing.assert_allclose(logits(fused), logits(tiny_config), rtol=1e-4, atol=1e-4)
    # train mode: the same dropout draws, applied to values instead of probabilities (M15)
    np.testing.assert_allclose(logits(fused, False), logits(tiny_config, False), rtol=1e-4, atol=1e-4)
    assert not np.allclose(logits(tiny_config, False), logits(tiny_config), atol=1e-3)
