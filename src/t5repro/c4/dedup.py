"""Spec D7 (URL normalisation and URL dedup), D12 (paper: 3-sentence windows), D13 (tfds: exact lines).

These functions see every page at once: they are the spec's rules transcribed directly, and the oracle that
tests hold the sharded build to (the build itself runs them hash-partitioned, `partition.py`, and uses the
key functions below). Winners are chosen by MD5 hex digest so the result does not depend on input order (C5).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import replace
from typing import Iterable, MutableMapping

from t5repro.c4.resources import SentenceSplitter
from t5repro.c4.stats import inc
from t5repro.c4.wet import Page

_SCHEME = re.compile(r"https?:\/\/(www\.)?")  # spec D7 (1)
_TRACKING = re.compile(r"\?(utm_|ref|feed).*")  # spec D7 (2)
END_MARK_SENTENCES = frozenset({".", "?", "!", '"'})  # spec D12: windows of bare end marks are skipped
WINDOW = 3  # spec D12 / paper §2.2: "three-sentence span"
MIN_NUM_SENTENCES = 3


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def normalize_url(url: str) -> str:
    """Spec D7: drop every `http(s)://(www.)`, the first ?utm_/?ref/?feed query onwards, trailing slashes."""
    url = _SCHEME.sub("", url)
    url = _TRACKING.sub("", url)
    return url.rstrip("/")


# ---------------------------------------------------------------------------------------------- D7
def dedup_urls(pages: Iterable[Page], counters: MutableMapping[str, int]) -> tuple[list[Page], int]:
    """Spec D7: one page per normalised URL, the greatest timestamp (strictly; ties keep the first seen).

    Returns the kept pages in the input order of the kept page, and how many pages were dropped.
    """
    best: dict[str, tuple[int, Page]] = {}
    dropped = 0
    for i, page in enumerate(pages):
        key = normalize_url(page.url)
        if key not in best:
            best[key] = (i, page)
            continue
        dropped += 1
        inc(counters, "filtered-url-duplicate")
        if page.timestamp > best[key][1].timestamp:
            best[key] = (i, page)
    counters["unique-url"] = counters.get("unique-url", 0) + len(best)
    return [p for _, p in sorted(best.values(), key=lambda x: x[0])], dropped


# ---------------------------------------------------------------------------------------------- D12
def windows(sents: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
    """Spec D12: windows S[i:i+w], w = min(len(S), 3); (start index, window)."""
    w = min(len(sents), WINDOW)
    return [(i, sents[i:i + w]) for i in range(len(sents) - w + 1)]


def is_end_mark_window(window: tuple[str, ...]) -> bool:
    """Spec D12: a window of bare end marks is never emitted."""
    return all(s in END_MARK_SENTENCES for s in window)  # also true for the empty window


def window_dedup(pages: list[Page], sentences: SentenceSplitter,
                 counters: MutableMapping[str, int]) -> tuple[list[Page], list[tuple[Page, str]]]:
    """Spec D12 (paper mode): keep one occurrence of every repeated 3-sentence window; returns (kept, drops)."""
    occurrences: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for page in pages:  # step 1
        key = normalize_url(page.url)
        for line in page.text.split("\n"):
            lowered = tuple(s.lower() for s in sentences(line))
            for _, win in windows(lowered):
                if not is_end_mark_window(win):
                    occurrences[win].append(key)
    remove: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for win, keys in occurrences.items():  # step 2 (a page repeating a window is told too: quirk kept)
        if len(keys) > 1:
            for key in sorted(keys, key=md5_hex)[1:]:
                remove[key].add(win)
    kept: list[Page] = []
    drops: list[tuple[Page, str]] = []
    for page in pages:  # steps 3 and 4
        text, n = _remove_windows(page.text, remove.get(normalize_url(page.url), set()), sentences, counters)
        if n < MIN_NUM_SENTENCES:
            drops.append((page, "filtered-deduped_page-toofewsentences"))
        else:
            kept.append(replace(page, text=text))
    return kept, drops


def _remove_windows(text: str, removal: set[tuple[str, ...]], sentences: SentenceSplitter,
                    counters: MutableMapping[str, int]) -> tuple[str, int]:
    """Spec D12 step 3: delete the sentences of removed windows; rebuild lines; (new text, sentence count)."""
    lines: list[str] = []
    total = 0
    for line in text.split("\n"):
        sents = sentences(line)
        marked: set[int] = set()
        if removal:
            for i, win in windows(sents):
                if tuple(s.lower() for s in win) in removal:
                    marked.update(range(i, i + len(win)))
        keep = [s for j, s in enumerate(sents) if j not in marked]
        if marked:
            inc(counters, "filtered-sentences-duplicate", len(marked))
        if not keep:
            inc(counters, "filtered-lines-duplicate")
            continue
        lines.append(" ".join(keep))
        total += len(keep)
    return "\n".join(lines), total


# ---------------------------------------------------------------------------------------------- D13
def line_key(line: str, unicode_lower: bool) -> str:
    """Spec D13: MD5 of the stripped, lower-cased line (ASCII-only lower-casing before TFDS 2.3.1)."""
    line = line.strip()
    if unicode_lower:
        return md5_hex(line.lower())
    return hashlib.md5(line.encode("utf-8").lower()).hexdigest()  # bytes.lower(): ASCII only


def line_key_bytes(line: str, unicode_lower: bool) -> bytes:
    """`line_key` as the 16-byte digest (the hex string's order and equality are the digest's)."""
    line = line.strip()
    return hashlib.md5(line.lower().encode("utf-8") if unicode_lower else line.encode("utf-8").lower()).digest()


def line_keys_bytes(lines: Iterable[str], unicode_lower: bool) -> list[bytes]:
    """`[line_key_bytes(line, unicode_lower) for line in lines]`, without a call per line (every line of every
    page goes through this twice, in the clean and the finish pass)."""
    md5 = hashlib.md5
    if unicode_lower:
        return [md5(line.strip().lower().encode("utf-8")).digest() for line in lines]
    return [md5(line.strip().encode("utf-8").lower()).digest() for line in lines]


def window_key(window: tuple[str, ...]) -> bytes:
    """Spec D12: the 16-byte key of a lower-cased sentence window; "\n" cannot occur inside a line's sentences."""
    return hashlib.md5("\n".join(window).encode("utf-8")).digest()


def window_keys(sents: tuple[str, ...]) -> list[tuple[int, int, bytes]]:
    """Spec D12 for the sharded build: (start, width, key) of a line's lower-cased windows, end-mark ones skipped."""
    lowered = tuple(x.lower() for x in sents)
    return [(i, len(win), window_key(win)) for i, win in windows(lowered) if not is_end_mark_window(win)]


def line_dedup(pages: list[Page], sentences: SentenceSplitter, counters: MutableMapping[str, int], *,
               version: str) -> tuple[list[Page], list[tuple[Page, str]]]:
    """Spec D13 line dedup; version "2.2.0" (tfds220) or "3.1.0" (tfds310) semantics."""
    v3 = version.startswith("3")
    page_id = (lambda p: p.url) if v3 else (lambda p: normalize_url(p.url))  # 3.1 raw url; 2.x normalised
    chosen: dict[str, str] = {}
    for page in pages:
        pid = page_id(page)
        for line in page.text.split("\n"):
            k = line_key(line, unicode_lower=v3)
            if k not in chosen or md5_hex(pid) < md5_hex(chosen[k]):
                chosen[k] = pid
    kept: list[Page] = []
    drops: list[tuple[Page, str]] = []
    for page in pages:
        pid, seen, new_lines = page_id(page), set(), []
        for line in page.text.split("\n"):
            k = line_key(line, unicode_lower=v3)
            if chosen[k] != pid:
                inc(counters, "filtered-lines-global_duplicate")
            elif v3 and k in seen:  # 2.3.0 on: first occurrence in the page only
                inc(counters, "filtered-lines-local_duplicate")
            else:
                new_lines.append(line)
                seen.add(k)
        new_text = "\n".join(new_lines)  # not stripped again (spec D13)
        if not new_text:
            drops.append((page, "filtered-deduped_page-empty"))
        elif len(sentences(new_text)) < MIN_NUM_SENTENCES:
            drops.append((page, "filtered-deduped_page-toofewsentences"))
        else:
            kept.append(replace(page, text=new_text))
    return kept, drops
