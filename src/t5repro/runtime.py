"""XLA settings t5repro applies to its own process: compiler flags that make the CPU train step fast.

XLA reads `XLA_FLAGS` once, when JAX starts a backend (first use, not `import jax`), so `t5repro/__init__`
calls `configure_xla()` on import. A flag the user already set is left as set; `T5REPRO_XLA_DEFAULTS=0`
turns all of this off. Flags are only added for the jaxlib versions they were measured on, because XLA
aborts the process on an unknown flag and experimental flags come and go between releases.
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from typing import MutableMapping

logger = logging.getLogger(__name__)

# XLA:CPU emits element-wise fusions through YNNPACK as it does dots. Without it, XLA's loop fusion may fold a
# whole gradient chain (e.g. the residual stream's, through every layer) into each transposed copy that feeds a
# weight-gradient dot, recomputing O(layers) element-wise work per copy with strided reads. T5-Small train
# step at 4 x 512/114 on this project's 2-core CPU, median: 5.67 s -> 2.61 s before the model's own fixes
# (models/layers.py `on_tokens`, `add_position_bias`), 2.08 s -> 1.88 s after them; same values (the model
# tests pass with and without). CPU only: other backends ignore it.
CPU_FLAGS: tuple[str, ...] = ("--xla_cpu_experimental_ynn_fusion_type=+eltwise",)
TESTED_JAXLIB = ("0.10.",)  # release prefixes the flags above exist in (jaxlib 0.10.2 is pinned)
OPT_OUT = "T5REPRO_XLA_DEFAULTS"


def _jaxlib_version() -> str:
    try:
        return metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return ""


def configure_xla(environ: MutableMapping[str, str] | None = None, jaxlib_version: str | None = None) -> list[str]:
    """Append `CPU_FLAGS` to `XLA_FLAGS` (each unless the user set it); returns the flags added."""
    env = os.environ if environ is None else environ
    version = _jaxlib_version() if jaxlib_version is None else jaxlib_version
    if env.get(OPT_OUT, "1") == "0" or not version.startswith(TESTED_JAXLIB):
        return []
    current = env.get("XLA_FLAGS", "")
    added = [f for f in CPU_FLAGS if f.split("=", 1)[0] not in current]
    if added:
        env["XLA_FLAGS"] = " ".join([current, *added]).strip()
        logger.debug("XLA_FLAGS += %s", " ".join(added))
    return added
