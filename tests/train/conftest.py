"""Compile fast in training tests (flax examples' train_test does the same): numerics are unchanged in kind,
and the bit-identity tests compare runs compiled under the same setting."""

from __future__ import annotations

import jax
import pytest


@pytest.fixture(autouse=True, scope="package")
def _fast_compilation():
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)
