"""Multi-task mixtures (paper §3.5.2-§3.5.3; spec model.md M63-M68, data.md D110-D115) as seqio Mixtures.

A mixture is a list of (task, rate) pairs (seqio.Mixture); the strategy is only the rate function:
- `examples_proportional`: r_m = min(e_m, K) / sum_n min(e_n, K) (D111, M64);
- `temperature`: the examples-proportional rates with K = 2^21, each raised to 1/T, renormalised (D112);
- `equal`: every task rate 1 (D113).
e_m is the number of *examples* (not tokens) in task m's train split (D110): the source's count where it
knows one (TFDS), else the raw examples counted once; `mixture.num_examples` overrides it (D114's fixed
tables). The unsupervised task's size is unbounded, so it contributes exactly K (D111) and never needs counting.

The §3.5.3 constructions are task lists: multi-task pre-training = the unsupervised task plus every
supervised task (M66); leave-one-out = the same minus `mixture.leave_out` (M67); supervised-only = without
the unsupervised task (M68). `tasks` names files of conf/task/ plus `unsupervised`, the pre-training task of
`data` x `objective`.

Hand-written: the rate arithmetic (`example_rate`), three lines of D110, equal to
`seqio.utils.mixing_rate_num_examples(task, maximum=K, temperature=T)` (tests/tasks/test_mixtures.py checks
this). seqio's function takes a Task and reads the size from the task's source or cache, which gives None for
our generated JSON-lines sources and would have to count C4 (~365M pages) to then clip it to K.
Not implemented: D115's halving of the two RTE tasks in T5's `all_proportional` (no RTE task config yet).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import logging
import math
from typing import Any, Mapping, Sequence

import seqio
from omegaconf import DictConfig, OmegaConf, open_dict

from t5repro import config as config_lib

logger = logging.getLogger(__name__)

STRATEGIES = ("examples_proportional", "temperature", "equal")
UNSUPERVISED = "unsupervised"  # the pre-training task of cfg.data x cfg.objective (§3.5.2 "unsupervised task")
TEMPERATURE_K = 2**21  # D112: temperature scaling starts from examples-proportional rates with K = 2^21


@dataclasses.dataclass(frozen=True)
class MixtureConfig:
    """The `mixture` block (conf/mixture/*.yaml), checked: bad values raise ConfigError naming the key."""

    strategy: str
    tasks: tuple[str, ...]
    K: int | None = None                 # artificial data-set size limit (D111); used by proportional/temperature
    T: float = 1.0                       # temperature (D112); 1 unless strategy == temperature
    leave_out: tuple[str, ...] = ()      # leave-one-out (M67): removed from `tasks`
    num_examples: Mapping[str, int] = dataclasses.field(default_factory=dict)  # e_m overrides (D114)
    name: str = ""                       # the conf/mixture file (logs only; the registry name is `registry_name`)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            close = difflib.get_close_matches(str(self.strategy), STRATEGIES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise config_lib.ConfigError(
                f"mixture.strategy={self.strategy!r} unknown (known: {', '.join(STRATEGIES)}){hint}")
        if self.strategy != "equal":
            if self.K is None:
                raise config_lib.ConfigError(f"mixture.K is required by mixture.strategy={self.strategy} (D111/D112)")
            if self.K < 1:
                raise config_lib.ConfigError(f"mixture.K={self.K} must be >= 1 (an example count limit, D111)")
        if not self.T > 0:
            raise config_lib.ConfigError(f"mixture.T={self.T} must be > 0 (rates are raised to 1/T, D112)")
        if self.strategy == "examples_proportional" and self.T != 1.0:
            raise config_lib.ConfigError(
                f"mixture.T={self.T} with mixture.strategy=examples_proportional: set mixture.strategy=temperature "
                "(examples-proportional mixing is T = 1, D112)")
        if not self.tasks:
            raise config_lib.ConfigError("mixture.tasks is empty: a mixture needs at least one task")
        duplicates = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if duplicates:
            raise config_lib.ConfigError(f"mixture.tasks lists {duplicates} more than once")
        absent = [t for t in self.leave_out if t not in self.tasks]
        if absent:
            raise config_lib.ConfigError(
                f"mixture.leave_out={absent} not in mixture.tasks={list(self.tasks)} (M67 leaves out a mixture member)")
        if not self.members:
            raise config_lib.ConfigError("mixture.leave_out removes every task of mixture.tasks")
        for task, n in self.num_examples.items():
            if n < 0:
                raise config_lib.ConfigError(f"mixture.num_examples.{task}={n} must be >= 0")

    @property
    def members(self) -> tuple[str, ...]:
        """The mixed tasks: `tasks` minus `leave_out`, in the order of `tasks`."""
        return tuple(t for t in self.tasks if t not in self.leave_out)

    @property
    def registry_name(self) -> str:
        """Registry name, unique per strategy, limits, member set and size overrides, e.g.
        `mix_examples_proportional_K524288_<8 hex digits of the members and num_examples>`."""
        parts = ["mix", self.strategy]
        if self.strategy != "equal":
            parts.append(f"K{self.K}")
        if self.strategy == "temperature":
            parts.append(f"T{self.T:g}")
        parts += [f"minus_{t}" for t in self.leave_out]
        # Two mixtures alike in strategy and K but not in their tasks (e.g. multi-task vs supervised-only
        # pre-training, or the unsupervised task of another objective) must not replace each other.
        members = repr((self.members, sorted(self.num_examples.items())))
        parts.append(hashlib.sha256(members.encode()).hexdigest()[:8])
        return "_".join(parts)

    @classmethod
    def from_cfg(cls, node: Any) -> "MixtureConfig":
        """From the Hydra `mixture` node (or a mapping); unknown keys and bad types raise naming the key."""
        if isinstance(node, DictConfig):
            for key in node:
                if OmegaConf.is_missing(node, key):
                    raise config_lib.ConfigError(f"config key 'mixture.{key}' is required (pass mixture.{key}=...)")
            items = OmegaConf.to_container(node, resolve=True)
        else:
            items = dict(node)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(items) - known)
        if unknown:
            raise config_lib.ConfigError(
                f"unknown key(s) mixture.{', mixture.'.join(unknown)} (known: {sorted(known)})")
        out: dict[str, Any] = {}
        out["strategy"] = str(items.get("strategy"))
        out["name"] = str(items.get("name") or "")
        tasks = items.get("tasks")
        if not isinstance(tasks, (list, tuple)):
            raise config_lib.ConfigError(f"mixture.tasks must be a list of task names, got {tasks!r}")
        out["tasks"] = tuple(str(t) for t in tasks)
        leave_out = items.get("leave_out")
        out["leave_out"] = () if leave_out is None else (
            (str(leave_out),) if isinstance(leave_out, str) else tuple(str(t) for t in leave_out))
        for key, typ in (("K", int), ("T", float)):
            value = items.get(key)
            if value is None:
                continue
            try:
                out[key] = typ(value)
            except (TypeError, ValueError):
                raise config_lib.ConfigError(f"mixture.{key}={value!r} is not a number") from None
            if key == "K" and out[key] != value:
                raise config_lib.ConfigError(f"mixture.K={value!r} must be an integer (a number of examples)")
        out["num_examples"] = {str(k): int(v) for k, v in (items.get("num_examples") or {}).items()}
        return cls(**out)


# ----------------------------------------------------------------- rates (D110-D113)


def example_rate(num_examples: float, *, K: int | None, T: float = 1.0) -> float:
    """D110's unnormalised rate (min(e, K))^(1/T): clip first, then temperature; e may be math.inf (C4)."""
    rate = float(num_examples) if K is None else min(float(num_examples), float(K))
    if math.isinf(rate):
        raise ValueError("an unbounded task (the unsupervised one) needs a limit K")
    return rate ** (1.0 / T) if T != 1.0 else rate


def _normalise(rates: Mapping[str, float]) -> dict[str, float]:
    total = sum(rates.values())
    if total <= 0:
        raise ValueError(f"mixing rates sum to {total}: every task is empty ({dict(rates)})")
    return {t: r / total for t, r in rates.items()}


def examples_proportional(num_examples: Mapping[str, float], K: int) -> dict[str, float]:
    """§3.5.2 examples-proportional mixing, D111/M64: r_m = min(e_m, K) / sum_n min(e_n, K)."""
    return _normalise({t: example_rate(e, K=K) for t, e in num_examples.items()})


def temperature_scaled(num_examples: Mapping[str, float], T: float, K: int = TEMPERATURE_K) -> dict[str, float]:
    """§3.5.2 temperature-scaled mixing, D112/M64: min(e_m, K)^(1/T) renormalised, K = 2^21 in the paper."""
    return _normalise({t: example_rate(e, K=K, T=T) for t, e in num_examples.items()})


def equal(tasks: Sequence[str]) -> dict[str, float]:
    """§3.5.2 equal mixing, D113/M64: each example's task drawn uniformly."""
    return {t: 1.0 / len(tasks) for t in tasks}


def mixing_rates(mixture: MixtureConfig, num_examples: Mapping[str, float]) -> dict[str, float]:
    """Sampling probabilities of `mixture.members` (they sum to 1) under `mixture.strategy`."""
    missing = [t for t in mixture.members if t not in num_examples]
    if missing and mixture.strategy != "equal":
        raise ValueError(f"no example count for {missing}")
    if mixture.strategy == "equal":
        return equal(mixture.members)
    sizes = {t: num_examples[t] for t in mixture.members}
    if mixture.strategy == "temperature":
        return temperature_scaled(sizes, mixture.T, int(mixture.K))  # type: ignore[arg-type]
    return examples_proportional(sizes, int(mixture.K))  # type: ignore[arg-type]


# ----------------------------------------------------------------- seqio


def num_examples(task: seqio.Task, split: str = "train") -> int:
    """e_m of D110: the source's example count, else the raw examples of `split` counted once (logged)."""
    n = task.num_input_examples(split)
    if n is not None:
        return int(n)
    logger.info("task %s: source has no example count; counting its %s split (D110 raw count)", task.name, split)
    ds = task.source.get_dataset(split=split, shuffle=False)
    return int(ds.reduce(0, lambda count, _: count + 1).numpy())


def add_mixture(name: str, rates: Mapping[str, float]) -> str:
    """Register a seqio.Mixture of (task, rate) pairs under `name`, replacing one of that name (idempotent)."""
    if name in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(name)
    seqio.MixtureRegistry.add(name, [(t, float(r)) for t, r in rates.items()])
    return name


def build_mixture(mixture: MixtureConfig, sizes: Mapping[str, float] | None = None) -> str:
    """Register the seqio Mixture of already-registered member tasks and return its name.

    Sizes come from `sizes`, then `mixture.num_examples`, then the task's source (`num_examples`); the
    unsupervised task counts as unbounded (D111).
    """
    counts: dict[str, float] = {}
    if mixture.strategy != "equal":
        for t in mixture.members:
            if sizes is not None and t in sizes:
                counts[t] = sizes[t]
            elif t in mixture.num_examples:
                counts[t] = mixture.num_examples[t]
            else:
                counts[t] = num_examples(seqio.get_mixture_or_task(t))
    rates = mixing_rates(mixture, counts)
    logger.info("mixture %s (%s, %s): %s", mixture.registry_name, mixture.name or "-", mixture.strategy,
                ", ".join(f"{t} {r:.4f}" + (f" (e={counts[t]:g})" if t in counts else "") for t, r in rates.items()))
    return add_mixture(mixture.registry_name, rates)


def task_file(task: str):
    """conf/task/<task>.yaml of a supervised member; an unknown name raises naming mixture.tasks."""
    task_dir = config_lib.conf_dir() / "task"
    known = sorted(p.stem for p in task_dir.glob("*.yaml"))
    if task not in known:
        close = difflib.get_close_matches(task, known + [UNSUPERVISED], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise config_lib.ConfigError(
            f"mixture.tasks: unknown task {task!r} (known: {UNSUPERVISED}, {', '.join(known)}){hint}")
    return task_dir / f"{task}.yaml"


def check_tasks(mixture: MixtureConfig) -> None:
    """Every name in `mixture.tasks` is `unsupervised` or a conf/task file (ConfigError naming mixture.tasks)."""
    for t in mixture.tasks:
        if t != UNSUPERVISED:
            task_file(t)


def _task_cfg(cfg: DictConfig, task: str) -> DictConfig:
    """`cfg` with its `task` block replaced by conf/task/<task>.yaml."""
    out = cfg.copy()
    with open_dict(out):
        out.task = OmegaConf.load(task_file(task))
    return out


def register_mixture(cfg: DictConfig) -> str:
    """Register the member Tasks of `cfg.mixture` and their seqio Mixture (M63-M68); return its name.

    `unsupervised` becomes the pre-training task of `cfg.data` x `cfg.objective`; every other name is a
    downstream task configured by conf/task/<name>.yaml. Member names in the Mixture are the registered names.
    """
    from t5repro.tasks import register_downstream_task, register_pretraining_task

    node = OmegaConf.select(cfg, "mixture")
    if node is None:
        raise config_lib.ConfigError("config key 'mixture' is required (pass mixture=examples_proportional|"
                                     "temperature|equal|multitask_pretraining|leave_one_out|supervised_only)")
    mixture = MixtureConfig.from_cfg(node)
    check_tasks(mixture)
    registered: dict[str, str] = {}
    for t in mixture.members:
        if t == UNSUPERVISED:
            registered[t] = register_pretraining_task(cfg)
        else:
            registered[t] = register_downstream_task(_task_cfg(cfg, t))
    sizes: dict[str, float] = {registered[UNSUPERVISED]: math.inf} if UNSUPERVISED in registered else {}
    renamed = dataclasses.replace(
        mixture, tasks=tuple(registered.get(t, t) for t in mixture.tasks),
        leave_out=tuple(registered.get(t, t) for t in mixture.leave_out),
        num_examples={registered.get(t, t): n for t, n in mixture.num_examples.items()})
    return build_mixture(renamed, sizes)
