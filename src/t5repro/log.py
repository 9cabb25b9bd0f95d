"""Logging set up once per process, and progress reporting that suits both a terminal and a log file."""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable, Iterable, Iterator, TypeVar

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


def progress(it: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
             status: Callable[[], str] | None = None) -> Iterator[T]:
    """A tqdm bar at a TTY; in a log file, one rate/ETA line at most every 10 s instead of carriage returns.

    `status()` (e.g. the trainer's latest loss and tokens/s) is shown beside the count: as the bar's postfix,
    or at the end of each log line.
    """
    if sys.stderr.isatty():
        bar = tqdm(it, total=total, desc=desc, unit=unit, dynamic_ncols=True)
        for item in bar:
            yield item
            if status is not None:
                bar.set_postfix_str(status(), refresh=False)
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
            extra = f", {status()}" if status is not None else ""
            log.info("%s: %d%s %s, %.1f %s/s%s%s", desc, n, f"/{total}" if total else "", unit, rate, unit, eta,
                     extra)
            last = now
    log.info("%s: done, %d %s in %.1f s", desc, n, unit, time.monotonic() - start)
