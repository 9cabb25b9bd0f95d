"""Learning-rate schedules of §3.1.2 (spec model.md §3.3, M46-M49).

Schedules map the 0-based update index n (optax's `count` before the update) to a learning rate.
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import optax

Schedule = Callable[[Any], Any]

SCHEDULES = ("rsqrt", "constant")


def rsqrt(warmup_steps: int = 10_000) -> Schedule:
    """Pre-training `lr(n) = 1/sqrt(max(n, k))`: a 1/sqrt(k) plateau, no ramp, no final decay (spec M46).

    n is the 0-based index of the update, so the first update (n = 0) already uses 1/sqrt(k) = 0.01
    for k = 10^4. k = 10^4 in all experiments (M47).
    """
    if warmup_steps <= 0:
        raise ValueError(f"rsqrt schedule needs warmup_steps > 0 (k of spec M46), got {warmup_steps}")
    k = float(warmup_steps)

    def schedule(count: Any) -> Any:
        n = jnp.asarray(count, jnp.float32)
        return 1.0 / jnp.sqrt(jnp.maximum(n, k))

    return schedule


def constant(learning_rate: float = 1e-3) -> Schedule:
    """Fine-tuning: a constant learning rate, no warm-up (spec M48: 1e-3 for every step).

    Returned as a callable (not a float) so that optax keeps a `ScaleByScheduleState`: the optimiser
    state then has the same structure in pre-training and fine-tuning and can be carried over (M42).
    """
    return optax.constant_schedule(float(learning_rate))


def make_schedule(train_cfg: Any) -> Schedule:
    """The schedule named by `train_cfg.schedule` (`rsqrt` uses `warmup_steps`, `constant` `learning_rate`)."""
    name = str(_get(train_cfg, "schedule"))
    if name == "rsqrt":
        return rsqrt(int(_get(train_cfg, "warmup_steps")))
    if name == "constant":
        return constant(float(_get(train_cfg, "learning_rate")))
    raise ValueError(f"unknown learning-rate schedule {name!r} (train.schedule); known: {', '.join(SCHEDULES)}")


def _get(cfg: Any, key: str) -> Any:
    return cfg[key] if isinstance(cfg, dict) else getattr(cfg, key)
