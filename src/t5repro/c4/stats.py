"""Drop reasons and counters (spec D24): every page or line a C4 rule removes is counted under its TFDS name."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable, MutableMapping, TypeVar

P = TypeVar("P")


@dataclass(frozen=True)
class Drop:
    """A page-level verdict: the page is removed, for `reason` (a TFDS c4_utils counter name)."""

    reason: str


def inc(counters: MutableMapping[str, int], name: str, n: int = 1) -> None:
    """Add n to a counter (a plain dict or Counter)."""
    counters[name] = counters.get(name, 0) + n


def apply(step: str, pages: Iterable[P], fn: Callable[[P], P | Drop], counters: MutableMapping[str, int],
          drops: MutableMapping[str, int]) -> list[P]:
    """Run a page -> page-or-Drop function over pages; count each Drop under its reason and the step.

    `drops` gets `<step>/<reason>` so that stats.json can show, per pipeline step, where pages went.
    """
    kept: list[P] = []
    for page in pages:
        out = fn(page)
        if isinstance(out, Drop):
            inc(counters, out.reason)
            inc(drops, f"{step}/{out.reason}")
        else:
            kept.append(out)
    return kept


def check_conservation(step: str, n_in: int, n_out: int, drops: Counter | dict) -> None:
    """Pages in == pages out + pages dropped at this step, or the pipeline lost something silently."""
    n_drop = sum(v for k, v in drops.items() if k.startswith(f"{step}/"))
    if n_in != n_out + n_drop:
        raise RuntimeError(f"C4 step {step}: {n_in} pages in, {n_out} out, {n_drop} counted as dropped")
