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


def _autodiff_loss(logits: jax.Array, targets: jax.Array, weights: jax.Array, z_loss: float) -> jax.Array:
    """The loss written with plain autodiff (`take_along_axis`): what `token_cross_entropy`'s VJP replaces."""
    log_z = jax.nn.logsumexp(logits, axis=-1)
    ce = log_z - jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(weights * (ce + z_loss * jnp.square(log_z))) / targets.size


@pytest.mark.parametrize("z_loss", [0.0, 1e-4, 0.5])
def test_hand_written_vjp_equals_autodiff_m34_m36(z_loss: float) -> None:
    """`token_cross_entropy`'s custom VJP gives autodiff's loss and logits gradient (CE and z-loss terms)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    logits = 4.0 * jax.random.normal(k1, (3, 7, 50), jnp.float32)
    targets = jax.random.randint(k2, (3, 7), 0, 50)
    weights = jax.random.uniform(k3, (3, 7)) * (targets > 0)
    ours = jax.value_and_grad(lambda x: cross_entropy_loss(x, targets, weights, z_loss=z_loss)[0])(logits)
    ref = jax.value_and_grad(lambda x: _autodiff_loss(x, targets, weights, z_loss))(logits)
    assert float(ours[0]) == pytest.approx(float(ref[0]), rel=1e-6)
    np.testing.assert_allclose(np.asarray(ours[1]), np.asarray(ref[1]), rtol=1e-5, atol=1e-9)
    # the target's own entry carries the -g_ce term: the gradient rows sum to g_logZ (z-loss) only
    row_sums = np.asarray(ours[1]).sum(-1)
    log_z = np.asarray(jax.nn.logsumexp(logits, axis=-1))
    np.testing.assert_allclose(row_sums, np.asarray(weights) * 2 * z_loss * log_z / targets.size, atol=1e-6)


def test_loss_gradient_scatters_nothing() -> None:
    """The point of the hand-written VJP: the gradient has no scatter into a [tokens, V] buffer."""
    logits = jnp.zeros((2, 3, 11), jnp.float32)
    targets = jnp.ones((2, 3), jnp.int32)
    grad_jaxpr = str(jax.make_jaxpr(jax.grad(lambda x: cross_entropy_loss(x, targets)[0]))(logits))
    ref_jaxpr = str(jax.make_jaxpr(jax.grad(lambda x: _autodiff_loss(x, targets, jnp.ones((2, 3)), 1e-4)))(logits))
    assert "scatter" in ref_jaxpr  # the check can fail: autodiff of take_along_axis does scatter
    assert "scatter" not in grad_jaxpr
