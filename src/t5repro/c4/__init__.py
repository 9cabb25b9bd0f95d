"""C4 construction (spec data.md §1): WET parsing, cleaning, dedup, language id, splits; see pipeline.py.

Modules: `wetgen` (stage `wet`, smoke-scale WET files), `wet` (D3-D4), `clean` (D9-D11), `dedup` (D7, D12,
D13), `langid` (D14), `badwords` (D11, D15), `resources` (Punkt, LDNOOBW), `stats` (drop reasons),
`pipeline` (stage `c4`, D18 order).
"""

from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page, WetFormatError

__all__ = ["Drop", "Page", "WetFormatError"]
