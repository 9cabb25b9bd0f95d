"""Per-run throughput as spec M89 asks, beside the trainer's input tokens/s: examples/s, target tokens/s,
model TFLOP/s (M30), MFU, and where the steady step time goes (`StepTimer`).

Model FLOPs are the architecture's matmul FLOPs of spec M30 (training = 3 x forward; no one-hot embedding,
no rematerialisation), which `benchmarks/dot_census.py` checks equal the train step's own matmuls. MFU
divides them by the dense bf16 peak of the devices the run used, when the device is in the table below.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator, Sequence

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


class StepTimer:
    """Where a run's steady-state wall time goes (spec M89's step-time breakdown), measured on the host.

    The trainer times its host work by phase: `input` (the next batch, placed on the mesh), `metrics` (a
    logged row) and `checkpoint` (saves). JAX dispatches a step asynchronously, so the device's time shows
    up wherever the host next waits for it; the trainer therefore waits for the device *before* it enters
    `metrics` or `checkpoint` (where it has to wait anyway), and `compute` is the rest of the steady window:
    the device step plus dispatch. An input-bound run shows a large `input` share (Levanter's
    `loading_time`); a healthy one is nearly all `compute`. Nothing is counted before `start()`, so the
    first step's compilation stays out, as in `step_time_s`.
    """

    PHASES = ("input", "metrics", "checkpoint")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self.started: float | None = None

    def start(self) -> None:
        """Open the steady window (after the first, compiling step has finished)."""
        self.started = time.monotonic()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed host work as `name` (one of PHASES) if the steady window is open."""
        if name not in self.seconds:
            raise ValueError(f"unknown phase {name!r}; expected one of {self.PHASES}")
        t = time.monotonic()
        try:
            yield
        finally:
            if self.started is not None and t >= self.started:
                self.seconds[name] += time.monotonic() - t

    def breakdown(self, total_s: float, steps: int) -> dict[str, float] | None:
        """Seconds per steady step by phase, summing to `total_s / steps`; None without a steady step."""
        if steps <= 0 or total_s <= 0:
            return None
        timed = sum(self.seconds.values())
        return {"compute": max(total_s - timed, 0.0) / steps, **{k: v / steps for k, v in self.seconds.items()}}


def format_breakdown(breakdown: dict[str, float]) -> str:
    """'412.0 ms/step: compute 96 %, input 3 %, ...' for the run's closing log line."""
    total = sum(breakdown.values())
    shares = ", ".join(f"{k} {100 * v / total:.0f} %" for k, v in breakdown.items()) if total > 0 else ""
    return f"{1000 * total:,.1f} ms/step: {shares}"
