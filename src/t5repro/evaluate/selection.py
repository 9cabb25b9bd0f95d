"""Checkpoint selection per task and per metric group (paper §3.1.2, §3.5.2; spec D107, M52, M63).

The paper evaluates every saved checkpoint on the validation split and reports, for each task, the best one,
chosen independently per task, also when one model was trained on a mixture (M63) and within a benchmark:
for GLUE and SuperGLUE each metric group (D105/D106: CoLA, SST-2, MRPC = mean of F1 and accuracy, ...) takes
the step that maximises the group's mean, and the benchmark average is the mean of those group values, each
possibly from another step (T5 `eval_utils.metric_group_max`). T5's separate "Average GLUE Score" column, the
best step of the per-step average (`best_of_average` here), can be lower and is not what the tables report.

`predict.select_best` (one task's primary metric key) is `select_group` with one key; this module covers groups
of keys (a group is the mean of its keys) and several tasks or groups scored at the same checkpoints.
Inputs are `{step: {metric key: value}}` with keys such as the columns of shared/paper/table16_all_results.csv
(`evaluate.metrics.GLUE_GROUPS`, `SUPERGLUE_GROUPS`).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

Scores = Mapping[int, Mapping[str, float]]  # step -> {metric key: value}


@dataclasses.dataclass(frozen=True)
class Selection:
    """The best checkpoint of one task or metric group: its step, the group's mean there, and its keys' values."""

    step: int
    value: float
    scores: dict[str, float]


def group_value(scores: Mapping[str, float], keys: Sequence[str]) -> float:
    """A metric group's score: the mean of its keys (D105: e.g. MRPC = mean(F1, accuracy))."""
    return float(np.mean([float(scores[k]) for k in keys]))


def select_group(per_checkpoint: Scores, keys: Sequence[str]) -> Selection:
    """The step maximising the mean of `keys` (D107); ties go to the earliest step (as predict.select_best)."""
    if not per_checkpoint:
        raise ValueError("no checkpoint was scored")
    if not keys:
        raise ValueError("a metric group needs at least one key")
    steps = sorted(per_checkpoint)
    missing = {k: [s for s in steps if k not in per_checkpoint[s]] for k in keys}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        raise ValueError(", ".join(f"metric {k!r} missing at steps {v}" for k, v in missing.items()))
    best = steps[0]
    best_value = group_value(per_checkpoint[best], keys)
    for s in steps[1:]:
        value = group_value(per_checkpoint[s], keys)
        if value > best_value:
            best, best_value = s, value
    return Selection(step=int(best), value=best_value, scores={k: float(per_checkpoint[best][k]) for k in keys})


def select_groups(per_checkpoint: Scores, groups: Mapping[str, Sequence[str]]) -> dict[str, Selection]:
    """Each group's own best checkpoint (D107), e.g. `groups = metrics.GLUE_GROUPS` over one GLUE fine-tuning."""
    return {name: select_group(per_checkpoint, keys) for name, keys in groups.items()}


def benchmark_score(per_checkpoint: Scores, groups: Mapping[str, Sequence[str]]) -> tuple[float, dict[str, Selection]]:
    """D105/D106 average over groups of each group's best value (D107); returns it with the selections."""
    selections = select_groups(per_checkpoint, groups)
    return float(np.mean([sel.value for sel in selections.values()])), selections


def best_of_average(per_checkpoint: Scores, groups: Mapping[str, Sequence[str]]) -> Selection:
    """T5's "Average ... Score" column: the single step with the best per-step benchmark average (not D107)."""
    averaged = {s: {"average": float(np.mean([group_value(v, keys) for keys in groups.values()]))}
                for s, v in per_checkpoint.items()}
    return select_group(averaged, ["average"])


def select_per_task(per_task: Mapping[str, Scores], keys: Mapping[str, Sequence[str]]) -> dict[str, Selection]:
    """A multi-task run (M63): every task's best checkpoint on its own keys, independently of the others.

    Args:
      per_task: task -> {step: {metric key: value}} (each task evaluated on the same run's checkpoints).
      keys: task -> the keys whose mean ranks its checkpoints (one key: the task's primary metric).
    """
    unknown = sorted(set(per_task) - set(keys))
    if unknown:
        raise ValueError(f"no ranking metric given for task(s) {unknown}")
    return {task: select_group(scores, keys[task]) for task, scores in per_task.items()}
