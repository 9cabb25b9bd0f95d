"""benchmarks/dot_census.py: the train step's matmul FLOPs, by dtype, equal spec M30's count."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import dot_census  # noqa: E402
from train_step import make_config  # noqa: E402

from t5repro.models.info import flops_per_example  # noqa: E402


def test_census_counts_dots_inside_nested_jaxprs() -> None:
    a, b = jnp.ones((8, 16), jnp.bfloat16), jnp.ones((16, 4), jnp.float32)

    @jax.jit
    def inner(x, y):
        return x @ y

    census = dot_census.dot_flops(jax.make_jaxpr(lambda x, y: inner(x, y) + x.astype(jnp.float32) @ y)(a, b))
    assert census == {("bfloat16", "float32", "float32"): 2 * 8 * 16 * 4, ("float32", "float32", "float32"): 2 * 8 * 16 * 4}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_train_step_matmuls_are_the_m30_flops(dtype: str) -> None:
    """The whole step (forward, backward, Adafactor) does M30's training FLOPs in matmuls, plus only the
    relative-bias one-hot contractions (per stack 2*h*32*L^2, forward and the table's gradient; the one-hot
    itself is constant): no hidden one-hot embedding (M88), no matmul counted twice."""
    b, s_in, s_t = 2, 128, 32
    census = dot_census.dot_flops(dot_census.train_step_jaxpr("small", dtype, b, s_in, s_t, 32128))
    cfg = make_config("small", dtype, 32128)
    m30 = flops_per_example(cfg, s_in, s_t)["training"] * b
    h = cfg.num_heads
    bias_tables = 2 * 2 * h * 32 * (s_in ** 2 + s_t ** 2)
    assert sum(census.values()) == pytest.approx(m30 + bias_tables, rel=1e-9)
    total = sum(census.values())
    if dtype == "bfloat16":  # the FFN and attention projections run as bf16 x bf16 products ...
        assert census[("bfloat16", "bfloat16", "bfloat16")] / total > 0.8
        # ... and every float32 result (attention and output logits, their gradients) from bf16 operands:
        # only the relative-bias one-hot contractions (exact, HIGHEST) remain float32 products
        slow = {key: flops for key, flops in census.items() if key[:2] != ("bfloat16", "bfloat16")
                and "BF16_BF16_F32" not in key}
        assert slow == {("float32", "float32", "float32"): bias_tables}, slow
    else:
        assert set(census) == {("float32", "float32", "float32")}



def test_adapter_matmuls_are_counted_as_m30s_ffn_term() -> None:
    """With §3.5.1 adapters (M55) the step's matmuls grow by exactly an FFN of width d_A per block, which is
    what `flops_per_example` adds for `adapter_dim` (fine-tuning runs report model FLOP/s from it, M89)."""
    b, s_in, s_t, d_a = 2, 64, 16, 48
    census = dot_census.dot_flops(dot_census.train_step_jaxpr("small", "float32", b, s_in, s_t, 32128,
                                                              adapter_dim=d_a))
    cfg = make_config("small", "float32", 32128).replace(adapter_dim=d_a)
    plain = flops_per_example(cfg.replace(adapter_dim=None), s_in, s_t)["training"]
    with_adapters = flops_per_example(cfg, s_in, s_t)["training"]
    assert with_adapters - plain == 3 * 4 * cfg.d_model * d_a * (s_in * cfg.num_encoder_layers
                                                                  + s_t * cfg.num_decoder_layers)
    bias_tables = 2 * 2 * cfg.num_heads * 32 * (s_in ** 2 + s_t ** 2)
    assert sum(census.values()) == pytest.approx(with_adapters * b + bias_tables, rel=1e-9)
