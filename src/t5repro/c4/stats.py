"""Drop reasons and counters (spec D24): every page or line a C4 rule removes is counted under its TFDS name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import MutableMapping


@dataclass(frozen=True)
class Drop:
    """A page-level verdict: the page is removed, for `reason` (a TFDS c4_utils counter name)."""

    reason: str


def inc(counters: MutableMapping[str, int], name: str, n: int = 1) -> None:
    """Add n to a counter (a plain dict or Counter)."""
    counters[name] = counters.get(name, 0) + n
