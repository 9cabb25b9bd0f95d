"""t5repro: a reproducibility suite for Raffel et al. 2020 (T5), from Common Crawl WET files to the paper's tables."""

from t5repro.runtime import configure_xla as _configure_xla

__version__ = "0.1.0"

_configure_xla()  # before JAX starts a backend: XLA reads XLA_FLAGS once (runtime.py)
