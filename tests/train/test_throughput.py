"""Per-run throughput (spec M89): rates from the steady step time, M30 model FLOP/s, MFU on known devices."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from t5repro.train.throughput import device_peak_tflops, run_throughput


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
