"""Tests of the size accounting (spec M23, M30, §7.1) and the `model-info` stage."""

from __future__ import annotations

import pytest

from t5repro import config as config_lib
from t5repro.models import T5Config, flops_per_example, param_count
from t5repro.models import info

BASE = T5Config(vocab_size=32128, d_model=768, d_ff=3072, num_heads=12, d_kv=64, num_encoder_layers=12,
                num_decoder_layers=12)


def test_flops_base_reference_values_m30() -> None:
    """Spec M30 / §7.1: Base 512/114 forward 141.98 GFLOP (enc 96.64, dec 39.72, out 5.63); training 3x."""
    f = flops_per_example(BASE, 512, 114)
    assert f["encoder"] / 1e9 == pytest.approx(96.64, abs=0.01)
    assert f["decoder"] / 1e9 == pytest.approx(39.72, abs=0.01)
    assert f["output"] / 1e9 == pytest.approx(5.63, abs=0.01)
    assert f["forward"] / 1e9 == pytest.approx(141.98, abs=0.01)
    assert f["training"] == 3 * f["forward"]
    assert f["training"] / 512 / 1e9 == pytest.approx(0.832, abs=0.001)


@pytest.mark.parametrize(("s_in", "s_t", "m", "half"), [(512, 114, 141.98, 73.80), (256, 256, 121.35, 66.99),
                                                         (512, 512, 257.19, 141.23)])
def test_flops_table_m30(s_in: int, s_t: int, m: float, half: float) -> None:
    """Spec M30 table: 12+12 and 6+6 encoder-decoder forward GFLOP per example."""
    assert flops_per_example(BASE, s_in, s_t)["forward"] / 1e9 == pytest.approx(m, abs=0.01)
    l6 = BASE.replace(num_encoder_layers=6, num_decoder_layers=6)
    assert flops_per_example(l6, s_in, s_t)["forward"] / 1e9 == pytest.approx(half, abs=0.01)
    assert param_count(l6) == 123_790_080  # M26 / §2.1 table


def test_param_count_large_variants_m23() -> None:
    """Spec M23 table: 2x (16+16) and 4x (32+32) at Large dims."""
    large = T5Config(vocab_size=32128, d_model=1024, d_ff=4096, num_heads=16, d_kv=64, num_encoder_layers=24,
                     num_decoder_layers=24)
    assert param_count(large.replace(num_encoder_layers=16, num_decoder_layers=16)) == 502_746_112
    assert param_count(large.replace(num_encoder_layers=32, num_decoder_layers=32)) == 972_590_080


def test_model_info_stage_prints_base(capsys) -> None:
    """`t5repro model-info model=base` prints the exact count, FLOPs and fp32 params+grads memory."""
    cfg = config_lib.load(["model=base", "scale=paper"])
    info.run(cfg)
    out = capsys.readouterr().out
    assert "222,903,552" in out
    assert "GFLOP" in out and "GiB" in out
    assert f"{222_903_552 * 8 / 2**30:,.3f} GiB" in out


def test_model_info_tiny_uses_vocab_rows(capsys) -> None:
    """A null model.vocab_size resolves from vocab.size + extra_ids rounded to 128 (smoke: 500 -> 512, D36)."""
    info.run(config_lib.load(["model=tiny"]))
    out = capsys.readouterr().out
    expected = param_count(T5Config(vocab_size=512, d_model=64, d_ff=256, num_heads=4, d_kv=16,
                                    num_encoder_layers=2, num_decoder_layers=2))
    assert f"{expected:,}" in out and "V=512" in out
