"""Per-run throughput (spec M89): rates from the steady step time, M30 model FLOP/s, MFU on known devices."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from t5repro.train.throughput import StepTimer, device_peak_tflops, format_breakdown, run_throughput


@pytest.mark.parametrize("kind, peak", [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0),
                                        ("NVIDIA H200", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                        ("TPU v4", 275.0), ("TPU v5 lite", 197.0), ("TPU v5", 459.0),
                                        ("cpu", None), ("NVIDIA GeForce RTX 4090", None)])
def test_device_peaks(kind: str, peak: float | None) -> None:
    assert device_peak_tflops(kind) == peak


def test_rates_model_flops_and_mfu() -> None:
    h100 = [SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3")] * 2
    out = run_throughput(step_time_s=0.5, batch_size=128, sequence_length={"inputs": 512, "targets": 114},
                         flops_per_example=425.9e9, devices=h100)
    assert out["examples_per_s"] == 256.0 and out["target_tokens_per_s"] == 256.0 * 114
    assert out["model_tflops_per_s"] == pytest.approx(425.9e9 * 128 / 0.5 / 1e12)  # 109.0
    assert out["peak_tflops"] == 2 * 989.0 and out["mfu"] == pytest.approx(109.0304 / 1978.0)


def test_unknown_or_mixed_devices_and_untimed_runs_report_no_mfu() -> None:
    cpu = [SimpleNamespace(device_kind="cpu")]
    out = run_throughput(step_time_s=2.0, batch_size=4, sequence_length={"inputs": 8, "targets": 4},
                         flops_per_example=1e9, devices=cpu)
    assert out["model_tflops_per_s"] == pytest.approx(2e-3) and out["mfu"] is None and out["peak_tflops"] is None
    mixed = [SimpleNamespace(device_kind="NVIDIA H100 80GB HBM3"), SimpleNamespace(device_kind="NVIDIA A100")]
    assert run_throughput(step_time_s=1.0, batch_size=1, sequence_length=None, flops_per_example=1.0,
                          devices=mixed)["mfu"] is None
    untimed = run_throughput(step_time_s=None, batch_size=4, sequence_length=None, flops_per_example=1e9,
                             devices=cpu)
    assert set(untimed.values()) == {None}
    no_flops = run_throughput(step_time_s=1.0, batch_size=4, sequence_length=None, flops_per_example=None,
                              devices=[SimpleNamespace(device_kind="TPU v4")])
    assert no_flops["examples_per_s"] == 4.0 and no_flops["model_tflops_per_s"] is None and no_flops["mfu"] is None


def test_step_timer_counts_phases_inside_the_steady_window_only() -> None:
    """M89's breakdown: host phases are timed only once the window opens (compilation stays out), and
    `compute` is the remainder, so the parts sum to the steady time per step."""
    timer = StepTimer()
    with timer.phase("input"):  # the first step's batch, before the window: not counted
        time.sleep(0.02)
    timer.start()
    for _ in range(2):
        with timer.phase("input"):
            time.sleep(0.01)
    with timer.phase("checkpoint"):
        time.sleep(0.01)
    assert timer.seconds["input"] >= 0.02 and timer.seconds["input"] < 0.035
    assert timer.seconds["checkpoint"] >= 0.01 and timer.seconds["metrics"] == 0.0
    out = timer.breakdown(total_s=1.0, steps=4)
    assert list(out) == ["compute", "input", "metrics", "checkpoint"]
    assert sum(out.values()) == pytest.approx(0.25)
    assert out["input"] == pytest.approx(timer.seconds["input"] / 4)
    assert out["compute"] == pytest.approx((1.0 - timer.seconds["input"] - timer.seconds["checkpoint"]) / 4)
    assert timer.breakdown(total_s=1.0, steps=0) is None and StepTimer().breakdown(0.0, 3) is None
    with pytest.raises(ValueError, match="unknown phase 'eval'"):
        with timer.phase("eval"):
            pass


def test_format_breakdown() -> None:
    assert format_breakdown({"compute": 0.3, "input": 0.1, "metrics": 0.0, "checkpoint": 0.0}) == (
        "400.0 ms/step: compute 75 %, input 25 %, metrics 0 %, checkpoint 0 %")
