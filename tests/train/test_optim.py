"""Adafactor as in the M38 table: decay values (M92), factored set (M41), the M39 update, masking (M44)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from t5repro.train.optim import (adafactor, all_trainable, factored_state, is_factored, make_optimizer,
                                 second_moment_decay, with_trainable_mask)


@pytest.mark.parametrize("t,expected", [(0, 0.0), (1, 0.42565), (9, 0.84151), (99, 0.97488), (9_999, 0.99937),
                                        (524_288, 0.999973)])
def test_second_moment_decay_m92(t, expected):
    assert float(second_moment_decay(t)) == pytest.approx(expected, abs=5e-6)


def t5_like_params(d: int = 128, f: int = 512, v: int = 384, h: int = 4, buckets: int = 32) -> dict:
    """A one-block T5-shaped tree with 2-D joined kernels (M40), norms and rel_bias."""
    rng = np.random.default_rng(0)

    def w(*shape):
        return jnp.asarray(rng.normal(size=shape).astype(np.float32) * 0.05)

    return {
        "token_embedder": {"embedding": w(v, d)},
        "encoder": {
            "relpos_bias": {"rel_embedding": w(h, buckets)},
            "layers_0": {
                "pre_attention_layer_norm": {"scale": jnp.ones((d,))},
                "attention": {"query": {"kernel": w(d, d)}, "key": {"kernel": w(d, d)},
                              "value": {"kernel": w(d, d)}, "out": {"kernel": w(d, d)}},
                "pre_mlp_layer_norm": {"scale": jnp.ones((d,))},
                "mlp": {"wi": {"kernel": w(d, f)}, "wo": {"kernel": w(f, d)}},
            },
            "encoder_norm": {"scale": jnp.ones((d,))},
        },
        "tiny": {"kernel": w(64, 256)},  # smoke-size kernel: 64 < 128 -> full second moment
    }


def test_factored_parameter_set_m41():
    params = t5_like_params()
    fs = factored_state(adafactor(0.01).init(params))
    flat_p = dict(jax.tree_util.tree_flatten_with_path(params)[0])
    flat_row = dict(jax.tree_util.tree_flatten_with_path(fs.v_row)[0])
    flat_col = dict(jax.tree_util.tree_flatten_with_path(fs.v_col)[0])
    flat_v = dict(jax.tree_util.tree_flatten_with_path(fs.v)[0])
    factored = {jax.tree_util.keystr(k) for k, p in flat_p.items() if flat_v[k].shape == (1,)}
    expected = {jax.tree_util.keystr(k) for k, p in flat_p.items() if p.ndim == 2 and min(p.shape) >= 128}
    assert len(expected) == 7  # E, q, k, v, o, wi, wo
    assert factored == expected
    for k, p in flat_p.items():
        name = jax.tree_util.keystr(k)
        assert is_factored(p.shape) == (name in expected)
        if name in expected:  # one statistic per kept axis (optax drops the larger axis in v_row, M82)
            assert sorted([flat_row[k].shape, flat_col[k].shape]) == sorted([(p.shape[0],), (p.shape[1],)])
            assert flat_v[k].shape == (1,)
        else:  # norms, rel_bias [4, 32] and the 64-wide kernel keep a full v
            assert flat_v[k].shape == p.shape and flat_row[k].shape == (1,)


def _reference_adafactor(params, grads_seq, lr):
    """Numpy transcription of spec M39 (eps1 1e-30, decay 1-(t+1)^-0.8, RMS clip 1, param scale >= 1e-3)."""
    p = np.array(params, np.float64)
    vr = np.zeros(p.shape[0]) if p.ndim == 2 and min(p.shape) >= 128 else None
    vc = np.zeros(p.shape[1]) if vr is not None else None
    v = None if vr is not None else np.zeros(p.shape)
    for t, g in enumerate(grads_seq):
        g = np.array(g, np.float64)
        beta = 1.0 - (t + 1.0) ** -0.8
        g2 = g * g + 1e-30
        if vr is not None:
            vr = beta * vr + (1 - beta) * g2.mean(axis=1)
            vc = beta * vc + (1 - beta) * g2.mean(axis=0)
            vhat = np.outer(vr, vc) / vr.mean()
        else:
            v = beta * v + (1 - beta) * g2
            vhat = v
        u = g / np.sqrt(vhat)
        u = u / max(1.0, np.sqrt(np.mean(u * u)))
        scale = max(np.sqrt(np.mean(p * p)), 1e-3)
        p = p - lr * scale * u
    return p


@pytest.mark.parametrize("shape", [(128, 256), (8, 16), (32,)])
def test_update_matches_m39_reference(shape):
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=shape).astype(np.float32) * 0.1
    grads = [rng.normal(size=shape).astype(np.float32) * s for s in (1.0, 0.01, 3.0)]
    tx = adafactor(optax.constant_schedule(0.01))
    params = {"w": jnp.asarray(p0)}
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update({"w": jnp.asarray(g)}, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(np.asarray(params["w"]), _reference_adafactor(p0, grads, 0.01), rtol=2e-5, atol=1e-7)


def test_frozen_parameters_get_zero_update_and_untouched_stats_m44():
    params = t5_like_params()
    mask = all_trainable(params)
    mask["token_embedder"]["embedding"] = False
    mask["encoder"]["layers_0"]["pre_mlp_layer_norm"]["scale"] = False
    plain = make_optimizer(optax.constant_schedule(0.01))
    masked = make_optimizer(optax.constant_schedule(0.01), mask)
    grads = jax.tree.map(lambda p: jnp.ones_like(p) * 0.3, params)

    s0 = masked.init(params)
    # same state structure as plain Adafactor: a pre-training state restores into it (M42, M53)
    assert jax.tree.structure(s0) == jax.tree.structure(plain.init(params))
    # warm the statistics with one all-trainable step, then a masked step must not touch frozen stats
    _, s1 = plain.update(grads, s0, params)
    updates, s2 = masked.update(jax.tree.map(lambda g: 2 * g, grads), s1, params)
    fs1, fs2 = factored_state(s1), factored_state(s2)
    assert int(fs2.count) == int(fs1.count) + 1  # the decay counter is shared (M44)
    flat_mask = jax.tree.leaves(mask)
    for m, u in zip(flat_mask, jax.tree.leaves(updates)):
        assert bool(jnp.any(u != 0)) == m
    for field in ("v_row", "v_col", "v"):
        for m, a, b in zip(flat_mask, jax.tree.leaves(getattr(fs1, field)), jax.tree.leaves(getattr(fs2, field))):
            if not m:
                np.testing.assert_array_equal(a, b)
    # a trainable factored kernel did update its statistics
    assert not np.array_equal(fs1.v_row["encoder"]["layers_0"]["mlp"]["wi"]["kernel"],
                              fs2.v_row["encoder"]["layers_0"]["mlp"]["wi"]["kernel"])


def test_all_true_mask_is_plain_adafactor():
    params = {"w": jnp.ones((3, 3))}
    tx = adafactor(0.01)
    assert with_trainable_mask(tx, all_trainable(params)) is tx
