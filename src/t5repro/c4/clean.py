"""Spec D9-D11: C4 line and page cleaning (TFDS c4_utils `clean_page`), for all three modes.

`clean_text` applies the D9 steps a-k in the reference order to each line (`str.splitlines()`), counting every
removed line under its TFDS counter name, then the D10 page sentence minimum. Quirks kept on purpose: the
citation regex runs before the end-mark test and the line is not re-stripped (D23: `"... ok. [1]"` is
dropped), `{` and `lorem ipsum` only kill a page on a line that survived steps b-e (C10), and the inline
bad-word regex cannot match at the very start of a line (D11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, MutableMapping

from t5repro.c4.resources import SentenceSplitter
from t5repro.c4.stats import Drop, inc
from t5repro.c4.wet import Page

if TYPE_CHECKING:
    from t5repro.c4.badwords import BadwordMatcher

CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")  # spec D9 c
END_MARKS = (".", "?", "!", '"')  # spec D9 d
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")  # spec D9 i
MIN_WORDS_PER_LINE = 5  # spec D9 e, C1
MIN_NUM_SENTENCES = 3  # spec D10, C1
MAX_WORD_LENGTH = 1000  # spec D9 b


@dataclass(frozen=True)
class CleanOptions:
    """Which D9 steps run: step b (v2/v3 only) and the inline bad-word step j (v1/v2 only)."""

    check_long_words: bool = False
    badwords_regex: re.Pattern | BadwordMatcher | None = None  # anything with the regex's .search
    min_words_per_line: int = MIN_WORDS_PER_LINE
    min_num_sentences: int = MIN_NUM_SENTENCES
    max_word_length: int = MAX_WORD_LENGTH


def clean_line(line: str, opts: CleanOptions) -> tuple[str | None, str]:
    """Spec D9 a-j on one line: (cleaned line, "lines-valid") or (None, line counter) or (None, page reason)."""
    line = line.strip()  # a
    # b; a line no longer than the limit cannot hold a longer word, so most lines skip the split
    if (opts.check_long_words and len(line) > opts.max_word_length
            and any(len(w) > opts.max_word_length for w in line.split())):
        return None, "lines-with-too-long-word"
    line = CITATION.sub("", line)  # c: no re-strip afterwards (quirk)
    if not line.endswith(END_MARKS) or line.endswith(ELLIPSIS):  # d
        return None, "lines-no-endmark"
    if len(line.split()) < opts.min_words_per_line:  # e
        return None, "lines-too-short"
    lower = line.lower()
    if "lorem ipsum" in lower:  # f
        return None, "filtered-page-loremipsum"
    if "javascript" in lower:  # g
        return None, "lines-javascript"
    if "{" in line:  # h
        return None, "filtered-page-squigglybracket"
    if any(p in lower for p in POLICY_SUBSTRINGS):  # i
        return None, "lines-policy"
    if opts.badwords_regex is not None and opts.badwords_regex.search(lower):  # j (spec D11)
        return None, "filtered-page-badword"
    return line, "lines-valid"


PAGE_KILLERS = ("filtered-page-loremipsum", "filtered-page-squigglybracket", "filtered-page-badword")


def clean_text(text: str, opts: CleanOptions, sentences: SentenceSplitter,
               counters: MutableMapping[str, int]) -> str | Drop:
    """Spec D9/D10 on a page text: the cleaned text, or a Drop; line drops are added to counters."""
    valid: list[str] = []
    num_sentences = 0
    for raw in text.splitlines():
        line, verdict = clean_line(raw, opts)
        if verdict in PAGE_KILLERS:
            return Drop(verdict)
        inc(counters, verdict)
        if line is not None:
            if num_sentences < opts.min_num_sentences:  # k: only the D10 minimum is needed, not the count
                num_sentences += len(sentences(line))
            valid.append(line)
    if num_sentences < opts.min_num_sentences:  # spec D10
        return Drop("filtered-page-toofewsentences")
    return "\n".join(valid).strip()


def clean_page(page: Page, opts: CleanOptions, sentences: SentenceSplitter,
               counters: MutableMapping[str, int]) -> Page | Drop:
    """Spec D9/D10 as a page -> page-or-Drop step."""
    out = clean_text(page.text, opts, sentences, counters)
    return out if isinstance(out, Drop) else replace(page, text=out)
