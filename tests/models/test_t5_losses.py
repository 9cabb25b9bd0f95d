"""Tests of the loss (spec M34-M38) on a hand-computed example."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from t5repro.models.losses import cross_entropy_loss

# B = 2, S_t = 3, V = 4; row 0 ends with padding (target 0), row 1 has EOS (id 1), which counts (M35).
LOGITS = np.array([[[2.0, 1.0, 0.0, -1.0], [0.5, 0.5, 3.0, 0.0], [9.0, 0.0, 0.0, 0.0]],
                   [[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0], [0.0, 5.0, 1.0, 0.0]]], np.float32)
TARGETS = np.array([[3, 2, 0], [2, 3, 1]], np.int32)


def _reference() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x = LOGITS.astype(np.float64)
    log_z = np.log(np.exp(x).sum(-1))
    ce = log_z - np.take_along_axis(x, TARGETS[..., None], -1)[..., 0]
    w = (TARGETS > 0).astype(np.float64)
    correct = (x.argmax(-1) == TARGETS).astype(np.float64)
    return log_z, ce, w, correct


def test_loss_hand_example_z_loss_and_constant_denominator_m36_m37() -> None:
    """Spec M36/M37: sum_w (CE + 1e-4 logZ^2) / (B * S_t) by default; padding excluded, EOS included (M35)."""
    log_z, ce, w, correct = _reference()
    assert w.sum() == 5  # the padded position is the only one dropped; the EOS position counts
    loss, aux = cross_entropy_loss(jnp.asarray(LOGITS), jnp.asarray(TARGETS))
    expected = np.sum(w * (ce + 1e-4 * log_z**2)) / 6.0  # D = B * S_t = 6, NOT the 5 real tokens
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(aux["ce_sum"]) == pytest.approx(np.sum(w * ce), rel=1e-6)
    assert float(aux["z_sum"]) == pytest.approx(np.sum(w * 1e-4 * log_z**2), rel=1e-6)
    assert float(aux["weight_sum"]) == 5
    assert float(aux["accuracy_sum"]) == np.sum(w * correct) == 3  # (0,1), (1,1) and the EOS at (1,2); not the pad (0,2)
    # hand check of one term: row 1, position 0 has uniform logits -> CE = log 4, log Z = log 4
    assert ce[1, 0] == pytest.approx(np.log(4.0))


def test_loss_normalizing_factor_and_no_z_loss_m37_m38() -> None:
    """Spec M37: a given constant D is used as is; z_loss=0 gives the plain CE sum / D (eval, M38)."""
    log_z, ce, w, _ = _reference()
    loss, aux = cross_entropy_loss(jnp.asarray(LOGITS), jnp.asarray(TARGETS), z_loss=0.0,
                                   loss_normalizing_factor=233_472.0)
    assert float(loss) == pytest.approx(np.sum(w * ce) / 233_472.0, rel=1e-6)
    assert float(aux["z_sum"]) == 0.0
    # explicit weights override the default (e.g. prefix-LM inputs zeroed, M35)
    weights = np.array([[1, 0, 0], [0, 0, 1]], np.float32)
    loss2, aux2 = cross_entropy_loss(jnp.asarray(LOGITS), jnp.asarray(TARGETS), jnp.asarray(weights), z_loss=1e-4)
    assert float(aux2["weight_sum"]) == 2
    expected = (ce[0, 0] + ce[1, 2] + 1e-4 * (log_z[0, 0] ** 2 + log_z[1, 2] ** 2)) / 6.0
    assert float(loss2) == pytest.approx(expected, rel=1e-6)


def test_z_loss_gradient_pushes_log_z_to_zero_m36() -> None:
    """Spec M36: the z-loss term's gradient is 2e-4 * logZ * softmax per weighted token."""
    x = jnp.asarray(LOGITS[:1, :1])  # one token, target 3
    t = jnp.asarray(TARGETS[:1, :1])
    g_with = jax.grad(lambda l: cross_entropy_loss(l, t, z_loss=1e-4)[0])(x)
    g_without = jax.grad(lambda l: cross_entropy_loss(l, t, z_loss=0.0)[0])(x)
    p = jax.nn.softmax(x)
    log_z = jax.nn.logsumexp(x, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(g_with - g_without), np.asarray(2e-4 * log_z * p), rtol=1e-3, atol=1e-7)  # float32 cancellation
