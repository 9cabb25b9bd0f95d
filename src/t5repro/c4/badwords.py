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


_NOT_LOWER_TO_SPACE = bytes(b if 0x61 <= b <= 0x7A else 0x20 for b in range(256))  # D11 runs: [a-z]+
_NOT_WORD_TO_SPACE = bytes(b if chr(b).isascii() and (chr(b).isalnum() or b == 0x5F) else 0x20
                           for b in range(256))  # D15 runs on ASCII text: \w+ = [A-Za-z0-9_]+


class BadwordMatcher:
    """The D11 or D15 regex's `search`, answered mostly by set lookups; exactly the regex's verdict.

    Hand-written for speed: Python's `re` tries the 377-word alternation at every character (~140 us a page).
    Both patterns require a boundary class on each side of the word (D11: `[^a-z]`, present; D15: `\\W` or
    the text's end). So an entry made only of run characters (D11: a-z, D15: word characters) can only
    match as a whole maximal run, which a set lookup finds; D11 adds that the run must neither start nor end
    the line. For the other entries (several words, `s&m`, an emoji, ...) every run inside them is a maximal
    run of the text too, so only the entries whose runs all occur can match: the regex is run on those
    alone (compiled once per such set).
    """

    def __init__(self, words: Iterable[str], *, inline: bool):
        self.inline = inline
        self.run = re.compile("[a-z]+" if inline else r"\w+")
        words = list(words)
        self.single = frozenset(w for w in words if self.run.fullmatch(w))
        self.rest = [(w, frozenset(self.run.findall(w))) for w in words if not self.run.fullmatch(w)]
        self._compiled: dict[tuple[str, ...], re.Pattern] = {}
        self.reference = inline_regex(words) if inline else page_regex(words, "en")
        # The same sets over bytes, for `_byte_runs`.
        self._single_b = frozenset(w.encode("utf-8") for w in self.single)
        self._rest_b = [(w, frozenset(t.encode("utf-8") for t in tokens)) for w, tokens in self.rest]

    def _byte_runs(self, text: str) -> set[bytes] | None:
        """The set of maximal runs as bytes by one C-level translate + split, or None where that is not exact.

        D11's runs `[a-z]+` are exact for any text (every other byte, UTF-8 lead and continuation bytes
        included, becomes a space); D15's `\w+` only for ASCII text, where `\w` is `[A-Za-z0-9_]`.
        """
        if self.inline:
            return set(text.encode("utf-8", "surrogatepass").translate(_NOT_LOWER_TO_SPACE).split())
        if text.isascii():
            return set(text.encode("ascii").translate(_NOT_WORD_TO_SPACE).split())
        return None

    def _regex(self, entries: tuple[str, ...]) -> re.Pattern:
        if entries not in self._compiled:
            self._compiled[entries] = inline_regex(entries) if self.inline else page_regex(entries, "en")
        return self._compiled[entries]

    def search(self, text: str) -> bool:
        runs_b = self._byte_runs(text)
        if runs_b is not None:
            if self._single_b.isdisjoint(runs_b):
                candidates = tuple(w for w, tokens in self._rest_b if tokens <= runs_b)
                return bool(candidates) and self._regex(candidates).search(text) is not None
            if not self.inline:
                return True
        runs = set(self.run.findall(text))
        hit = self.single.intersection(runs)
        if hit:
            if not self.inline:
                return True
            for m in self.run.finditer(text):  # D11: the run needs a character on each side
                if m.group() in hit and m.start() > 0 and m.end() < len(text):
                    return True
        candidates = tuple(w for w, tokens in self.rest if tokens <= runs)
        return bool(candidates) and self._regex(candidates).search(text) is not None


def badword_page_filter(page: Page, regex: "re.Pattern | BadwordMatcher", fraction: float = 1.0) -> Page | Drop:
    """Spec D15: a matching page is kept iff md5(normalised url) % b >= a, (a, b) = fraction ratio."""
    if not regex.search(page.text.lower()):
        return page
    a, b = fraction.as_integer_ratio()  # en: 1.0 -> (1, 1): always dropped
    h = int(hashlib.md5(normalize_url(page.url).encode("utf-8")).hexdigest(), 16)
    return page if h % b >= a else Drop("filtered-page-badword")
