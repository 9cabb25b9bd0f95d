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


def test_gpu_traces_use_the_device_timeline_and_kernel_names() -> None:
    """On a GPU the device's kernels are counted (by hlo_op, or by the kernel name XLA derives from the
    instruction's), and the host's launch events for the same instructions are not counted twice."""
    info = {"loop_add_fusion.3": ("", "jit(f)/layers_1/add"), "cublas-gemm.1": ("dot", "jit(f)/layers_0/dot_general"),
            "fusion.7": ("reduce", "jit(f)/layers_0/reduce_sum")}
    events = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "/host:CPU"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "/device:GPU:0"}},
        {"ph": "X", "pid": 1, "name": "loop_add_fusion.3", "dur": 900.0},          # host launch: ignored
        {"ph": "X", "pid": 2, "name": "loop_add_fusion_3", "dur": 1000.0},         # kernel named after the fusion
        {"ph": "X", "pid": 2, "name": "sm90_xmma_gemm_bf16", "dur": 3000.0, "args": {"hlo_op": "cublas-gemm.1"}},
        {"ph": "X", "pid": 2, "name": "fusion_7", "dur": 500.0},
        {"ph": "X", "pid": 2, "name": "memcpy", "dur": 50.0},                      # no instruction: ignored
    ]
    groups = xla_profile.summarise(events, info)
    assert groups == {("", "jit(f)/layers_N/add"): [1.0, 1], ("dot", "jit(f)/layers_N/dot_general"): [3.0, 1],
                      ("reduce", "jit(f)/layers_N/reduce_sum"): [0.5, 1]}
    # CPU traces have no device process: host events are the instructions themselves
    cpu = [events[0], {"ph": "X", "pid": 1, "name": "fusion.7", "dur": 2000.0}]
    assert xla_profile.summarise(cpu, info) == {("reduce", "jit(f)/layers_N/reduce_sum"): [2.0, 1]}
