"""benchmarks/gpu_roofline.py: kernels, bytes and FLOPs read from optimized HLO, and the per-layer extrapolation."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_roofline as rl  # noqa: E402

# The shape of XLA:GPU's optimized HLO (from a compile-only H100 dump), cut down to one of each kind.
HLO = """HloModule jit_train_step

%fused_computation (param_0: bf16[64,32]) -> bf16[64,32] {
  %param_0 = bf16[64,32]{1,0} parameter(0)
  ROOT %tanh = bf16[64,32]{1,0} tanh(%param_0)
}

ENTRY %main.1 (x.1: bf16[64,16], w.1: bf16[16,32]) -> bf16[64,32] {
  %x.1 = bf16[64,16]{1,0} parameter(0), metadata={op_name="x"}
  %w.1 = bf16[16,32]{1,0} parameter(1), metadata={op_name="w"}
  %custom-call.1 = (bf16[64,32]{1,0}, s8[4194304]{0}) custom-call(%x.1, %w.1), custom_call_target="__cublas$lt$matmul", metadata={op_name="jit(train_step)/jvp(T5)/T5.encode/encoder/layers_3/mlp/wi/dot_general"}, backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"],"lhs_batch_dimensions":[],"rhs_batch_dimensions":[]}}}
  %get-tuple-element.1 = bf16[64,32]{1,0} get-tuple-element(%custom-call.1), index=0
  %custom-call.2 = (bf16[64,32]{1,0}, s8[4194304]{0}) custom-call(%get-tuple-element.1, %w.1), custom_call_target="__cublas$lt$matmul", backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"]}}}
  %get-tuple-element.2 = bf16[64,32]{1,0} get-tuple-element(%custom-call.2), index=0
  ROOT %fusion.7 = bf16[64,32]{1,0} fusion(%get-tuple-element.2), kind=kLoop, calls=%fused_computation, metadata={op_name="jit(train_step)/jvp(T5)/T5.encode/encoder/layers_0/self_attention/add"}
}
"""


def test_kernels_count_operand_and_result_bytes_and_matmul_flops() -> None:
    ks = {k.name: k for k in rl.kernels(HLO)}
    assert set(ks) == {"custom-call.1", "custom-call.2", "fusion.7"}  # parameters and tuple plumbing are not kernels
    mm = ks["custom-call.1"]
    assert mm.kind == "__cublas$lt$matmul"
    assert mm.flops == 2 * 64 * 32 * 16
    assert mm.bytes == 2 * (64 * 16 + 16 * 32 + 64 * 32)  # the cuBLAS workspace is not traffic
    assert mm.op_name.endswith("layers_N/mlp/wi/dot_general")  # layer index folded
    assert ks["fusion.7"].bytes == 2 * 2 * 64 * 32 and ks["fusion.7"].kind == "fusion/kLoop"
    # a library call XLA left without metadata is named after its operand's source op
    assert ks["custom-call.2"].op_name == ks["custom-call.1"].op_name
    assert rl.category(mm) == "MLP, matmul" and rl.category(ks["fusion.7"]) == "self-attention, memory"
    assert mm.seconds(peak=1e9, bandwidth=1e15) == pytest.approx(mm.flops / 1e9)  # compute-bound here
    assert ks["fusion.7"].seconds(peak=1e9, bandwidth=1e6) == pytest.approx(ks["fusion.7"].bytes / 1e6)


def test_kernels_of_a_real_compiled_module() -> None:
    """XLA:CPU's optimized HLO has the same syntax: one fused element-wise kernel reads x once, writes once."""
    x = jnp.ones((256, 128), jnp.float32)
    hlo = jax.jit(lambda a: jnp.tanh(a) * 2.0 + 1.0).lower(x).compile().as_text()
    ks = rl.kernels(hlo)
    assert sum(k.bytes for k in ks) == 2 * 256 * 128 * 4
    assert all(k.flops == 0 for k in ks)


def test_extrapolation_from_one_and_two_layers() -> None:
    one = {"MLP, matmul": [1.0, 10.0, 5.0, 2.0], "loss + output layer, memory": [3.0, 30.0, 0.0, 1.0]}
    two = {"MLP, matmul": [2.0, 20.0, 10.0, 4.0], "loss + output layer, memory": [3.0, 30.0, 0.0, 1.0]}
    twelve = rl.extrapolate(one, two, 12)
    assert twelve["MLP, matmul"] == [12.0, 120.0, 60.0, 24.0]  # per-layer cost x 12
    assert twelve["loss + output layer, memory"] == [3.0, 30.0, 0.0, 1.0]  # the fixed part once
    text = rl.report(twelve, model_flops=60.0 * rl.PEAK_FLOPS / 1e3)
    assert "15000.0 ms step" in text and "MFU upper bound for this program: 0.4 %" in text


def test_fused_attention_flops() -> None:
    """cuDNN's flash attention: 4 B h Lq Lk dk FLOPs forward (QK^T, PV), 10 backward (QK^T again, four more)."""
    hlo = """ENTRY %main (q: bf16[2,8,3,4], k: bf16[2,16,3,4]) -> bf16[2,3,8,4] {
  %q = bf16[2,8,3,4]{3,2,1,0} parameter(0)
  %k = bf16[2,16,3,4]{3,2,1,0} parameter(1)
  %fwd = (bf16[2,3,8,4]{3,1,2,0}, f32[2,3,8]{2,1,0}, u8[0]{0}) custom-call(%q, %k, %k), custom_call_target="__cudnn$fmhaScaleBiasSoftmax", metadata={op_name="jit(train_step)/jvp(T5)/T5.encode/encoder/layers_0/self_attention/dot_product_attention"}
  %bwd = (bf16[2,8,3,4]{3,2,1,0}, bf16[2,16,3,4]{3,2,1,0}, u8[0]{0}) custom-call(%q, %k, %k), custom_call_target="__cudnn$fmhaScaleBiasSoftmaxBackward"
  ROOT %out = bf16[2,3,8,4]{3,1,2,0} get-tuple-element(%fwd), index=0
}
"""
    fwd, bwd = rl.kernels(hlo)
    assert fwd.flops == 4 * 2 * 3 * 8 * 16 * 4 and bwd.flops == 10 * 2 * 3 * 8 * 16 * 4
    assert rl.category(fwd) == "self-attention, matmul"
    assert bwd.op_name == ""  # no metadata and only parameters as operands: nothing to name it after
