"""Shared tiny configurations and helpers for the T5 model tests (spec model.md Appendix A, M91)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from t5repro.models import T5, T5Config, init_params

# H = 4 * 16 = 64 != d = 32: exercises M1 (never assume H = d).
TINY = T5Config(vocab_size=128, d_model=32, d_ff=64, num_heads=4, d_kv=16, num_encoder_layers=2,
                num_decoder_layers=2, dropout_rate=0.1)


@pytest.fixture(scope="session")
def tiny_config() -> T5Config:
    """A tiny config with H != d and dropout 0.1."""
    return TINY


@pytest.fixture(scope="module")
def tiny_params():
    """Float32 parameters of TINY, with the decoder's final norm scale randomised.

    An untrained tied model echoes its input token (h ~ E[x] gives the largest logit to x); random norm
    scales break that so that decoding tests see varied tokens.
    """
    params = jax.jit(lambda key: init_params(T5(TINY), key))(jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map(lambda x: x, params)  # a fresh, mutable dict tree
    params["decoder"]["final_layer_norm"]["scale"] = jax.random.normal(jax.random.PRNGKey(7), (TINY.d_model,))
    return params



@pytest.fixture(scope="module", autouse=True)
def _fast_compiles():
    """Compile with XLA optimisations mostly off (as flax's wmt test does): these tests are compile-bound."""
    old = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """Three right-padded encoder inputs of lengths 6, 3 and 5 (decoding tests)."""
    rng = np.random.default_rng(0)
    enc = rng.integers(2, 128, size=(3, 6)).astype(np.int32)
    for row, n in enumerate((6, 3, 5)):
        enc[row, n:] = 0
    return enc
