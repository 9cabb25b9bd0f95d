"""Cross-entropy with z-loss and a constant denominator (spec model.md §3.1, M34-M38)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

Z_LOSS = 1e-4  # spec M36


@jax.custom_vjp
def token_cross_entropy(logits: Array, targets: Array) -> tuple[Array, Array]:
    """Per-token `(CE, log Z)` of float32 `logits` [..., V] against integer `targets` [...] (M34, M36).

    Written by hand with its own VJP, as t5x's `cross_entropy_with_logits` is, for speed only: autodiff of
    `take_along_axis` scatters the target term into a zero [tokens, V] float32 buffer (in the H100 program
    of a Base step, benchmarks/gpu_roofline.py, two scatter kernels moving 6.6 GB; 2.2 ms of roofline time
    saved), whereas `d logits = (g_ce + g_logZ) softmax - g_ce onehot(targets)` is one element-wise pass
    over the saved logits, the one-hot made by comparing ids, never stored.
    """
    return _token_cross_entropy_fwd(logits, targets)[0]


def _token_cross_entropy_fwd(logits: Array, targets: Array) -> tuple[tuple[Array, Array], tuple]:
    log_z = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return (log_z - target_logit, log_z), (logits, targets, log_z)


def _token_cross_entropy_bwd(res: tuple, g: tuple[Array, Array]) -> tuple[Array, None]:
    logits, targets, log_z = res
    g_ce, g_log_z = g
    softmax = jnp.exp(logits - log_z[..., None])
    onehot = jax.lax.broadcasted_iota(jnp.int32, logits.shape, logits.ndim - 1) == targets[..., None]
    d_logits = (g_ce + g_log_z)[..., None] * softmax - jnp.where(onehot, g_ce[..., None], 0.0)
    return d_logits.astype(logits.dtype), None


token_cross_entropy.defvjp(_token_cross_entropy_fwd, _token_cross_entropy_bwd)


def default_weights(targets: Array) -> Array:
    """Token weights: 1 where the target id > 0 (EOS counts, padding 0 does not), spec M35."""
    return (targets > 0).astype(jnp.float32)


def cross_entropy_loss(logits: Array, targets: Array, weights: Array | None = None, *,
                       z_loss: float = Z_LOSS, loss_normalizing_factor: float | None = None
                       ) -> tuple[Array, dict[str, Array]]:
    """Return (sum w*(CE + z_loss*logZ^2) / D, aux sums); D constant, B*S_t when None (spec M36, M37).

    No label smoothing (M35). Pass `z_loss=0.0` for evaluation (M16, M38). `aux` holds the sums
    `ce_sum, z_sum, weight_sum, accuracy_sum` so callers report mean CE per real token and accuracy
    (M38) and so microbatches can be accumulated before one division by D (M84).
    """
    logits = logits.astype(jnp.float32)  # M24: loss in float32
    if weights is None:
        weights = default_weights(targets)
    weights = weights.astype(jnp.float32)
    ce, log_z = token_cross_entropy(logits, targets)
    z = z_loss * jnp.square(log_z)
    denom = float(targets.size) if loss_normalizing_factor is None else loss_normalizing_factor
    loss = jnp.sum(weights * (ce + z)) / denom
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    aux = {
        "ce_sum": jnp.sum(weights * ce),
        "z_sum": jnp.sum(weights * z),
        "weight_sum": jnp.sum(weights),
        "accuracy_sum": jnp.sum(weights * correct),
    }
    return loss, aux
