"""Per-run throughput as spec M89 asks, beside the trainer's input tokens/s: examples/s, target tokens/s,
model TFLOP/s (M30) and MFU.

Model FLOPs are the architecture's matmul FLOPs of spec M30 (training = 3 x forward; no one-hot embedding,
no rematerialisation), which `benchmarks/dot_census.py` checks equal the train step's own matmuls. MFU
divides them by the dense bf16 peak of the devices the run used, when the device is in the table below.
"""

from __future__ import annotations

from typing import Any, Sequence

# Dense bf16 peak per JAX device, TFLOP/s, from the vendors' data sheets (no sparsity). First match wins,
# so the more specific names come first. A device not listed (a CPU, say) gets no MFU.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100", 989.0),     # SXM; spec M90
    ("H200", 989.0),
    ("A100", 312.0),
    ("TPU v5 lite", 197.0),   # v5e
    ("TPU v5", 459.0),        # v5p
    ("TPU v6 lite", 918.0),   # v6e
    ("TPU v4", 275.0),
)


def device_peak_tflops(device_kind: str) -> float | None:
    """Dense bf16 TFLOP/s of one device of this `jax.Device.device_kind`, or None when unknown."""
    for name, peak in PEAK_BF16_TFLOPS:
        if name.lower() in device_kind.lower():
            return peak
    return None


def run_throughput(*, step_time_s: float | None, batch_size: int, sequence_length: dict[str, int] | None,
                   flops_per_example: float | None, devices: Sequence[Any]) -> dict[str, Any]:
    """Summary fields of a run's steady-state speed; rates are None when there was no timed step.

    `batch_size` is the global batch (examples per update), `sequence_length` the batch's `inputs` and
    `targets` lengths, `flops_per_example` M30's training FLOPs of one example (None: not reported),
    `devices` those the run's mesh spans (MFU against all of them).
    """
    out: dict[str, Any] = {"examples_per_s": None, "target_tokens_per_s": None, "model_tflops_per_s": None,
                           "mfu": None, "peak_tflops": None}
    kinds = sorted({d.device_kind for d in devices})
    peak = device_peak_tflops(kinds[0]) if len(kinds) == 1 else None
    if peak is not None:
        out["peak_tflops"] = peak * len(devices)
    if not step_time_s or step_time_s <= 0:
        return out
    out["examples_per_s"] = batch_size / step_time_s
    if sequence_length:
        out["target_tokens_per_s"] = batch_size * sequence_length["targets"] / step_time_s
    if flops_per_example:
        out["model_tflops_per_s"] = flops_per_example * batch_size / step_time_s / 1e12
        if out["peak_tflops"]:
            out["mfu"] = out["model_tflops_per_s"] / out["peak_tflops"]
    return out
