"""Which Section 3 experiments share a pre-training run (e.g. every row of Table 10, §3.5.1).

Two experiments share pre-training when their resolved configs agree on everything pre-training reads.
The keys below are read only by fine-tuning, evaluation and reporting; everything else (model, arch,
objective, data, C4 variant, mixture, `pretrain` recipe, seed, scale...) counts, so a key added later
errs on the side of a separate pre-training run, never a wrongly shared one.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf

FINETUNE_ONLY_KEYS = ("io", "experiment_name", "task", "finetune", "finetune_method", "evaluate", "decoding",
                      "report", "taskdata")


def pretraining_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config minus the keys pre-training never reads (FINETUNE_ONLY_KEYS)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for key in FINETUNE_ONLY_KEYS:
        resolved.pop(key, None)
    return resolved


def pretraining_key(cfg: DictConfig) -> str:
    """sha256 of `pretraining_config(cfg)`: equal keys mean one pre-training run serves both experiments."""
    return hashlib.sha256(yaml.safe_dump(pretraining_config(cfg), sort_keys=True).encode()).hexdigest()


def shared_pretraining(experiments: Sequence[str], scale: str,
                       load: Callable[[str], DictConfig] | None = None) -> dict[str, str]:
    """Map each experiment to the first experiment (in the given order) whose pre-training it can reuse.

    `load(exp)` gives the experiment's composed config at `scale` (the workflow passes its cached one).
    """
    if load is None:
        from t5repro import config as config_lib

        def load(exp: str) -> DictConfig:
            return config_lib.load([f"scale={scale}", f"experiment={exp}"])

    first: dict[str, str] = {}
    owner: dict[str, str] = {}
    for exp in experiments:
        key = pretraining_key(load(exp))
        owner[exp] = first.setdefault(key, exp)
    return owner
