"""Compose the Hydra configuration of a stage and refuse unknown keys, naming them (STYLE.md §5)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Iterable

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    """A configuration problem, with the offending key in the message."""


def _concat(*lists: Any) -> list:
    """`${concat:[a],${b}}`: lists joined, e.g. a mixture's `unsupervised` plus the scale's supervised tasks."""
    return [item for lst in lists for item in lst]


if not OmegaConf.has_resolver("concat"):
    OmegaConf.register_new_resolver("concat", _concat)


def conf_dir() -> Path:
    """The `conf/` folder: $T5REPRO_CONF_DIR, else the repository's (editable install), else ./conf."""
    env = os.environ.get("T5REPRO_CONF_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[2] / "conf", Path.cwd() / "conf"]
    for c in candidates:
        if (c / "config.yaml").is_file():
            return c
    raise ConfigError(f"no conf/config.yaml found (looked in {', '.join(map(str, candidates))}); set T5REPRO_CONF_DIR")


def _all_keys(cfg: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(cfg, DictConfig):
        for k in cfg.keys():
            full = f"{prefix}{k}"
            out.append(full)
            try:
                out += _all_keys(cfg._get_node(k), full + ".")  # type: ignore[union-attr]
            except Exception:  # pragma: no cover - interpolation nodes
                pass
    return out


def _normalise(overrides: Iterable[str]) -> list[str]:
    """Accept `+key=value` as `key=value`: every valid key already exists, so `+` can only add typos."""
    out = []
    for o in overrides:
        if o.startswith("++"):
            o = o[2:]
        elif o.startswith("+"):
            o = o[1:]
        if "=" not in o:
            raise ConfigError(f"override {o!r} is not of the form key=value")
        out.append(o)
    return out


def load(overrides: Iterable[str] = ()) -> DictConfig:
    """Compose conf/config.yaml with `key=value` overrides; an unknown key raises ConfigError naming it."""
    overrides = _normalise(overrides)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        base = compose(config_name="config")
        try:
            cfg = compose(config_name="config", overrides=overrides)
        except ConfigCompositionException as e:
            raise ConfigError(_explain(e, overrides, base)) from None
    OmegaConf.set_struct(cfg, True)
    return cfg


def _explain(e: Exception, overrides: list[str], base: DictConfig) -> str:
    msg = str(e.__cause__ or e)
    known = _all_keys(base)
    for o in overrides:
        key = o.split("=", 1)[0]
        if key.split(".")[0] in _groups() and "." not in key:
            continue
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return f"unknown config key {key!r} (in override {o!r}){hint}"
    return f"invalid configuration override(s) {overrides}: {msg}"


def _groups() -> set[str]:
    return {p.name for p in conf_dir().iterdir() if p.is_dir()}


def require(cfg: DictConfig, key: str) -> Any:
    """The value at dotted `key`, or a ConfigError naming the key when it is missing or null."""
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        raise ConfigError(f"config key {key!r} is required by stage {cfg.get('stage')!r} (pass {key}=...)")
    return value


def select(cfg: DictConfig, key: str, default: Any = None) -> Any:
    """The value at dotted `key`, or `default` when it is missing or null (for optional inputs)."""
    value = OmegaConf.select(cfg, key, default=None)
    return default if value is None else value


def require_path(cfg: DictConfig, key: str) -> Path:
    return Path(str(require(cfg, key)))


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
