"""`TrainState`: everything a checkpoint must hold to continue training bit-identically (spec M86)."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class TrainState:
    """Parameters, full optimiser state and the phase-local step, as one pytree (spec M42, M86).

    `step` counts the updates applied in this phase (pre-training or fine-tuning). The global step of
    the paper (M42: fine-tuning step s is global step 524,288 + s) is `start_step + step`, and the
    Adafactor decay counter inside `opt_state` carries it, because fine-tuning restores the optimiser
    state of pre-training (M53).
    """

    step: jax.Array   # int32 scalar
    params: Any       # float32 parameters (M43)
    opt_state: Any    # optax state: Adafactor's FactoredState (count, v_row, v_col, v) + schedule count

    @classmethod
    def create(cls, params: Any, opt_state: Any, step: int = 0) -> "TrainState":
        """A state at phase step `step` (0 for a fresh phase)."""
        return cls(step=jnp.asarray(step, jnp.int32), params=params, opt_state=opt_state)


def param_count(params: Any) -> int:
    """Number of scalar parameters in a parameter tree."""
    return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(params)))
