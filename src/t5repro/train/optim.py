"""Adafactor as the paper ran it, through optax (spec model.md §3.2, M38-table, M39-M45).

Every setting of the Mesh TF reference is spelled out (not left to optax defaults), so that a change of
optax's defaults cannot silently change the algorithm. Frozen parameters (adapters, gradual unfreezing,
spec M44) are handled by `with_trainable_mask`, which keeps the optimiser-state *structure* identical to
plain Adafactor so a pre-training state can always be restored into it (M42, M53).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from optax._src import factorized

from t5repro.train.schedules import Schedule

# spec M38-table (Mesh TF AdafactorOptimizer defaults, t5x adafactor.Adafactor for T5 v1.0)
DECAY_RATE = 0.8          # exponent of 1 - (t+1)^-0.8 (M92), not a constant beta2
DECAY_OFFSET = 0          # t = the global step; pre-training state carries t into fine-tuning (M42)
MIN_DIM_SIZE_TO_FACTOR = 128
EPS = 1e-30               # epsilon1, added to g^2
CLIPPING_THRESHOLD = 1.0  # update divided by max(1, RMS(update)) per parameter


def adafactor(schedule: Schedule | float) -> optax.GradientTransformation:
    """optax Adafactor configured exactly as the M38 table: factored, decay 0.8, clipping 1, param scale.

    No momentum, no weight decay and no global-norm clipping (M38-table, M45). `schedule` is an
    optax schedule of the 0-based update index (M46-M48).
    """
    return optax.adafactor(
        learning_rate=schedule,
        min_dim_size_to_factor=MIN_DIM_SIZE_TO_FACTOR,
        decay_rate=DECAY_RATE,
        decay_offset=DECAY_OFFSET,
        multiply_by_parameter_scale=True,  # max(RMS(theta), 1e-3), M39
        clipping_threshold=CLIPPING_THRESHOLD,
        momentum=None,
        weight_decay_rate=None,
        eps=EPS,
        factored=True,
    )


def second_moment_decay(t: Any, decay_rate: float = DECAY_RATE) -> Any:
    """Adafactor's decay `1 - (t+1)^-decay_rate` at 0-based step t, as optax computes it (spec M92)."""
    return factorized._decay_rate_pow(t, decay_rate)  # noqa: SLF001 - the function optax uses


def factored_state(opt_state: Any) -> factorized.FactoredState:
    """The `FactoredState` (count, v_row, v_col, v) inside an Adafactor chain state (spec M41, M42)."""
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, factorized.FactoredState))
             if isinstance(s, factorized.FactoredState)]
    if len(found) != 1:
        raise ValueError(f"expected exactly one Adafactor FactoredState in the optimiser state, found {len(found)}")
    return found[0]


def is_factored(shape: tuple[int, ...]) -> bool:
    """Whether optax keeps row/column statistics for a parameter of this shape (spec M40, M41)."""
    return factorized._factored_dims(tuple(shape), True, MIN_DIM_SIZE_TO_FACTOR) is not None  # noqa: SLF001


def all_trainable(params: Any) -> Any:
    """The trainable mask of the all-parameters baseline (Table 10, first row): True everywhere."""
    return jax.tree.map(lambda _: True, params)


def with_trainable_mask(tx: optax.GradientTransformation, mask: Any) -> optax.GradientTransformation:
    """Wrap `tx` so frozen parameters get a zero update and keep their statistics (spec M44).

    `mask` is a pytree of Python bools with the structure of the parameters (True = trainable). Unlike
    `optax.multi_transform`/`optax.masked`, the wrapped state has exactly the structure of `tx`'s state:
    every state sub-tree shaped like the parameters is selected leaf-wise (new for trainable, old for
    frozen), and everything else (the shared step counters) advances, as Mesh TF's shared decay counter
    does (M44). So a pre-training checkpoint restores into it unchanged (M42, M53).
    """
    mask_leaves = [bool(m) for m in jax.tree.leaves(mask)]
    if all(mask_leaves):
        return tx

    def init_fn(params: Any) -> Any:
        return tx.init(params)

    def update_fn(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        param_def = jax.tree.structure(updates)
        if param_def != jax.tree.structure(mask):
            raise ValueError("trainable_mask must have the structure of the parameters")
        new_updates, new_state = tx.update(updates, state, params)
        new_updates = jax.tree.map(lambda m, u: u if m else jnp.zeros_like(u), mask, new_updates)

        def is_param_tree(x: Any) -> bool:
            return not _is_array(x) and jax.tree.structure(x) == param_def

        def select(new: Any, old: Any) -> Any:
            if is_param_tree(new):
                return jax.tree.map(lambda m, n, o: n if m else o, mask, new, old)
            return new  # counters and other shared state

        new_state = jax.tree.map(select, new_state, state, is_leaf=is_param_tree)
        return new_updates, new_state

    return optax.GradientTransformation(init_fn, update_fn)


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, jnp.ndarray)) or hasattr(x, "shape") and hasattr(x, "dtype")


def make_optimizer(schedule: Schedule, trainable_mask: Any | None = None) -> optax.GradientTransformation:
    """Adafactor with `schedule`, frozen parameters masked out when `trainable_mask` is given (M44)."""
    tx = adafactor(schedule)
    return tx if trainable_mask is None else with_trainable_mask(tx, trainable_mask)
