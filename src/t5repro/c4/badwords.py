"""Spec D11 (inline, paper/tfds220) and D15 (page level after language id, tfds310) bad-word rules."""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

from t5repro.c4.dedup import normalize_url
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page

NO_BOUNDARY_LANGS = ("th", "zh", "ja")  # spec D15: scripts without spaces (ja since 3.1.0)


def inline_regex(words: Iterable[str]) -> re.Pattern:
    """Spec D11: `[^a-z](w1|w2|...)[^a-z]`, words verbatim (not escaped), so a line-initial word is missed."""
    return re.compile("[^a-z]({})[^a-z]".format("|".join(words)))


def page_regex(words: Iterable[str], lang: str = "en") -> re.Pattern:
    """Spec D15 (v3.1): escaped words between non-word characters or the text's ends."""
    alternation = "|".join(re.escape(w) for w in words)
    if lang in NO_BOUNDARY_LANGS:
        return re.compile(f"({alternation})")
    return re.compile(rf"(?:\W|^)({alternation})(?:\W|$)")


def badword_page_filter(page: Page, regex: re.Pattern, fraction: float = 1.0) -> Page | Drop:
    """Spec D15: a matching page is kept iff md5(normalised url) % b >= a, (a, b) = fraction ratio."""
    if not regex.search(page.text.lower()):
        return page
    a, b = fraction.as_integer_ratio()  # en: 1.0 -> (1, 1): always dropped
    h = int(hashlib.md5(normalize_url(page.url).encode("utf-8")).hexdigest(), 16)
    return page if h % b >= a else Drop("filtered-page-badword")
