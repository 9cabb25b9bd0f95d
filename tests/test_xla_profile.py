"""benchmarks/xla_profile.py: a profiled step's time is attributed to the JAX ops its XLA instructions came from."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import xla_profile  # noqa: E402


def test_profile_groups_instructions_by_source_op(tmp_path) -> None:
    @jax.jit
    def step(x, w):
        def layer(h, i):
            return jnp.tanh(h @ w[i])
        with jax.named_scope("layers_0"):
            h = layer(x, 0)
        with jax.named_scope("layers_1"):
            return layer(h, 1)

    x, w = jnp.ones((64, 256)), jnp.ones((2, 256, 256)) * 0.01
    hlo = step.lower(x, w).compile().as_text()
    info = xla_profile._instructions(hlo)
    assert any("dot" in kinds.split(",") and "layers_0" in op for kinds, op in info.values()), info
    report = xla_profile.profile_step(lambda: jax.block_until_ready(step(x, w)), hlo, str(tmp_path))
    lines = report.splitlines()
    assert lines[0].endswith(".trace.json.gz)") and float(lines[0].split()[0]) > 0
    # the two layers' matmuls are one row (layer index folded), run twice
    rows = [ln for ln in lines[2:] if "layers_N" in ln and "dot" in ln]
    assert rows and int(rows[0].split()[2]) == 2, report
