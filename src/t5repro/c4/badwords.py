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
# the same after ASCII lower-casing (A-Z -> a-z): D15's runs of `text.lower()` for ASCII text in one translate
_LOWER_WORD_TO_SPACE = bytes(b + 0x20 if 0x41 <= b <= 0x5A else _NOT_WORD_TO_SPACE[b] for b in range(256))


class BadwordMatcher:
    """The D11 or D15 regex's `search`, answered mostly by set lookups; exactly the regex's verdict.

    Hand-written for speed: Python's `re` tries the 377-word alternation at every character (~140 us a page).
    Both patterns require a boundary class on each side of the word (D11: `[^a-z]`, present; D15: `\\W` or
    the text's end). So an entry made only of run characters (D11: a-z, D15: word characters) can only
    match as a whole maximal run, which a set lookup finds; D11 adds that the run must neither start nor end
    the line. For the other entries (several words, `s&m`, an emoji, ...) every run inside them is a maximal
    run of the text too, so only the entries whose runs all occur can match: the regex is run on those
    alone (compiled once per such set). On ASCII text an entry with a non-ASCII character cannot occur at all.
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
        # For ASCII text (D15): the multi-run entries that can occur there (ASCII, at least one run), each filed
        # under one of its runs (the longest: the least common), and every run a set lookup needs to see.
        self._rest_ascii_b: dict[bytes, list[tuple[str, frozenset[bytes]]]] = {}
        for w, tokens in self._rest_b:
            if w.isascii() and tokens:
                self._rest_ascii_b.setdefault(max(sorted(tokens), key=len), []).append((w, tokens))
        self._wanted_ascii_b = self._single_b | frozenset(self._rest_ascii_b)

    def _byte_runs(self, text: str) -> set[bytes]:
        """D11: the set of maximal runs `[a-z]+` as bytes, by one C-level translate + split; exact for any text
        (every other byte, UTF-8 lead and continuation bytes included, becomes a space)."""
        return set(text.encode("utf-8", "surrogatepass").translate(_NOT_LOWER_TO_SPACE).split())

    def _regex(self, entries: tuple[str, ...]) -> re.Pattern:
        if entries not in self._compiled:
            self._compiled[entries] = inline_regex(entries) if self.inline else page_regex(entries, "en")
        return self._compiled[entries]

    def search(self, text: str) -> bool:
        if not self.inline:
            if text.isascii():  # D15's `\w+` runs of ASCII text: `[A-Za-z0-9_]+`, by a translate + split
                return self._search_ascii(text.encode("ascii").translate(_NOT_WORD_TO_SPACE).split(), text, False)
        else:
            runs_b = self._byte_runs(text)
            if self._single_b.isdisjoint(runs_b):
                candidates = tuple(w for w, tokens in self._rest_b if tokens <= runs_b)
                return bool(candidates) and self._regex(candidates).search(text) is not None
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

    def search_lower(self, text: str) -> bool:
        """`search(text.lower())`, D15's test of a page; ASCII text is lower-cased by the translate itself."""
        if not self.inline and text.isascii():
            return self._search_ascii(text.encode("ascii").translate(_LOWER_WORD_TO_SPACE).split(), text, True)
        return self.search(text.lower())

    def _search_ascii(self, runs: list[bytes], text: str, lower: bool) -> bool:
        """D15 on the ASCII text `text.lower() if lower else text`, given its maximal runs (repeats kept)."""
        found = self._wanted_ascii_b.intersection(runs)
        if not found:
            return False
        if not self._single_b.isdisjoint(found):
            return True
        all_runs = set(runs)
        candidates = [w for key in found for w, tokens in self._rest_ascii_b[key] if tokens <= all_runs]
        if not candidates:
            return False
        return self._regex(tuple(sorted(candidates))).search(text.lower() if lower else text) is not None


def badword_page_filter(page: Page, regex: "re.Pattern | BadwordMatcher", fraction: float = 1.0) -> Page | Drop:
    """Spec D15: a matching page is kept iff md5(normalised url) % b >= a, (a, b) = fraction ratio."""
    search_lower = getattr(regex, "search_lower", None)
    if not (search_lower(page.text) if search_lower is not None else regex.search(page.text.lower())):
        return page
    a, b = fraction.as_integer_ratio()  # en: 1.0 -> (1, 1): always dropped
    h = int(hashlib.md5(normalize_url(page.url).encode("utf-8")).hexdigest(), 16)
    return page if h % b >= a else Drop("filtered-page-badword")
