"""§3.5.1 adapter layers in the model (spec M55-M57): parameter counts (M56), FFN-like init (M22, M57)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from t5repro.models import T5, T5Config, eval_shape_param_count, init_params, param_count
from tests.models.conftest import TINY

BASE = T5Config(vocab_size=32128, d_model=768, d_ff=3072, num_heads=12, d_kv=64, num_encoder_layers=12,
                num_decoder_layers=12)


@pytest.mark.parametrize("d_a,added", [(32, 1_198_080), (128, 4_737_024), (512, 18_892_800), (2048, 75_515_904)])
def test_adapter_parameter_count_m56(d_a, added):
    base = eval_shape_param_count(BASE)
    assert base == 222_903_552
    with_adapters = eval_shape_param_count(BASE.replace(adapter_dim=d_a))
    assert with_adapters - base == added == 24 * (2 * 768 * d_a + 768)
    assert param_count(BASE.replace(adapter_dim=d_a)) == with_adapters  # M23 formula + M56 term


def test_adapter_tree_adds_only_adapter_entries_and_none_keeps_the_tree():
    plain = jax.eval_shape(lambda: init_params(T5(TINY), jax.random.PRNGKey(0)))
    same = jax.eval_shape(lambda: init_params(T5(TINY.replace(adapter_dim=None)), jax.random.PRNGKey(0)))
    assert jax.tree.structure(plain) == jax.tree.structure(same)
    ad = jax.eval_shape(lambda: init_params(T5(TINY.replace(adapter_dim=8)), jax.random.PRNGKey(0)))
    paths = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(ad)}
    base_paths = {jax.tree_util.keystr(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(plain)}
    new = {k: v for k, v in paths.items() if k not in base_paths}
    assert all(paths[k] == v for k, v in base_paths.items())
    d = TINY.d_model
    for stack in ("encoder", "decoder"):
        for i in range(2):
            pre = f"['{stack}']['layers_{i}']"
            assert new.pop(f"{pre}['adapter']['wi']['kernel']") == (d, 8)
            assert new.pop(f"{pre}['adapter']['wo']['kernel']") == (8, d)
            assert new.pop(f"{pre}['pre_adapter_layer_norm']['scale']") == (d,)
    assert new == {}
    with pytest.raises(ValueError, match="adapter_dim"):
        TINY.replace(adapter_dim=0)


def test_adapters_change_outputs_at_init_and_are_ffn_initialised_m57():
    cfg = TINY.replace(adapter_dim=256, d_model=128)
    plain_cfg = cfg.replace(adapter_dim=None)
    params = init_params(T5(cfg), jax.random.PRNGKey(0))
    plain = init_params(T5(plain_cfg), jax.random.PRNGKey(0))
    # the shared parameters are identical (flax folds the path into the key), so only the adapters differ
    for p, x in jax.tree_util.tree_leaves_with_path(plain):
        y = params
        for k in p:
            y = y[k.key]
        np.testing.assert_array_equal(x, y)
    enc = jnp.asarray(np.random.default_rng(0).integers(2, 128, (2, 7)), jnp.int32)
    dec = jnp.asarray(np.random.default_rng(1).integers(2, 128, (2, 5)), jnp.int32)
    out = T5(cfg).apply({"params": params}, enc, dec, deterministic=True)
    ref = T5(plain_cfg).apply({"params": plain}, enc, dec, deterministic=True)
    assert float(jnp.max(jnp.abs(out - ref))) > 1e-3  # not identity-initialised (M57, Q2)
    ad = params["encoder"]["layers_0"]["adapter"]
    # M22 MTF truncated normal: actual std ~0.8796 sigma, sigma = fan_in^-0.5 (d^-0.5 for wi, d_A^-0.5 for wo)
    for w, fan_in in ((ad["wi"]["kernel"], 128), (ad["wo"]["kernel"], 256)):
        assert abs(float(np.std(w)) / (0.8796 * fan_in ** -0.5) - 1) < 0.05
        assert float(np.max(np.abs(w))) <= 2 * fan_in ** -0.5 + 1e-6
    np.testing.assert_array_equal(params["decoder"]["layers_1"]["pre_adapter_layer_norm"]["scale"], np.ones(128))
    assert math.prod(ad["wi"]["kernel"].shape) == 128 * 256
