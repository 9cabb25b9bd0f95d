"""Logging set up once per process, and progress reporting that suits both a terminal and a log file."""

from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_CONFIGURED = False


def setup(level: int = logging.INFO) -> None:
    """Log `time level name: message` lines to stderr (Snakemake sends stderr to each rule's log:)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("absl", "tensorflow", "jax._src", "orbax", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _CONFIGURED = True


def progress(it: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """A tqdm bar at a TTY; in a log file, one rate/ETA line at most every 10 s instead of carriage returns."""
    if sys.stderr.isatty():
        yield from tqdm(it, total=total, desc=desc, unit=unit, dynamic_ncols=True)
        return
    log = logging.getLogger("t5repro.progress")
    start = last = time.monotonic()
    n = 0
    for n, item in enumerate(it, 1):
        yield item
        now = time.monotonic()
        if now - last >= 10:
            rate = n / (now - start)
            eta = f", ETA {(total - n) / rate:.0f} s" if total and rate > 0 else ""
            log.info("%s: %d%s %s, %.1f %s/s%s", desc, n, f"/{total}" if total else "", unit, rate, unit, eta)
            last = now
    log.info("%s: done, %d %s in %.1f s", desc, n, unit, time.monotonic() - start)
