"""Learning-rate schedules: the M47 reference values, the M46 plateau (no ramp), the M48 constant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from t5repro.train.schedules import constant, make_schedule, rsqrt

# spec M47 (k = 10^4 in all experiments)
M47 = [(0, 0.0100), (1, 0.0100), (9_999, 0.0100), (10_000, 0.0100), (2**17, 0.0027621), (2**18, 0.0019531),
       (2**19, 0.0013811), (2**20, 0.00097656), (10**6, 0.0010000), (2**21, 0.00069053)]


@pytest.mark.parametrize("n,expected", M47)
def test_rsqrt_reference_values_m47(n, expected):
    assert float(rsqrt(10_000)(n)) == pytest.approx(expected, rel=5e-5)


def test_rsqrt_is_a_plateau_not_a_ramp_m46():
    lr = rsqrt(10_000)
    # the first update (n = 0) already uses 1/sqrt(k): no linear warm-up
    assert float(lr(0)) == pytest.approx(0.01, rel=1e-6)
    values = np.array([float(lr(n)) for n in (0, 100, 5_000, 9_999)])
    np.testing.assert_allclose(values, 0.01, rtol=1e-6)
    # then strictly decreasing as 1/sqrt(n), with no final linear decay to 0
    assert float(lr(40_000)) == pytest.approx(0.005, rel=1e-6)
    assert float(lr(4 * 10**6)) == pytest.approx(1 / math.sqrt(4e6), rel=1e-6)


def test_constant_schedule_m48():
    lr = constant(1e-3)
    assert [float(lr(n)) for n in (0, 1, 524_288, 786_432)] == pytest.approx([1e-3] * 4)


def test_make_schedule_from_recipe_and_unknown_name():
    assert float(make_schedule({"schedule": "rsqrt", "warmup_steps": 100, "learning_rate": 5.0})(0)) == \
        pytest.approx(0.1)
    assert float(make_schedule({"schedule": "constant", "warmup_steps": 0, "learning_rate": 1e-3})(10**6)) == \
        pytest.approx(1e-3)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'cosine'"):
        make_schedule({"schedule": "cosine", "warmup_steps": 0, "learning_rate": 1.0})
    with pytest.raises(ValueError, match="warmup_steps"):
        rsqrt(0)
