"""The external resources C4 needs (spec D1, D10, D11): NLTK Punkt English and the LDNOOBW `en` list.

Both are read from `io.data_dir` (offline copies, /work/shared/data/README.md) and checked against their
sha256 before use; a missing or changed file is a ResourceError naming the file and the config key.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from itertools import chain, islice
from typing import Any

LDNOOBW_COMMIT = "25e679f03d96baa721cde20db9944649e8d0a844"  # spec D1/D11: the commit TFDS pins
LDNOOBW_EN_SHA256 = "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"
PUNKT_REL = Path("nltk_data/tokenizers/punkt_tab")
LDNOOBW_REL = Path("ldnoobw/en")



# The nltk code that `SentenceSplitter` ports (`_spans`, `_contains_break`), as the sha256 of its source: where
# the installed nltk differs from the one the port was written against, nltk's own functions run instead.
PORTED_NLTK_PUNKT_SHA256 = "06eff3a3b9edc62666ca1c10aa5bdf0ad3444928150d4f47c84549fc40dad7cc"
_PORTED_METHODS = (  # PunktSentenceTokenizer / PunktBaseClass methods
    "span_tokenize", "_slices_from_text", "_match_potential_end_contexts", "_get_last_whitespace_index",
    "_realign_boundaries", "text_contains_sentbreak", "_annotate_tokens", "_annotate_first_pass",
    "_first_pass_annotation", "_annotate_second_pass", "_second_pass_annotation", "_ortho_heuristic",
    "_tokenize_words")
# re_boundary_realignment's leading character class (its pattern is part of the digest)
_CLOSERS = frozenset("\"')]}\u2018\u2019\u201c\u201d\xab\xbb")
_SENT_END = (".", "?", "!")  # PunktLanguageVars.sent_end_chars
_PUNCTUATION = tuple(";:,.!?")  # PunktSentenceTokenizer.PUNCTUATION


def _nltk_punkt_source(tokenizer: Any) -> str:
    """sha256 of the nltk code and patterns that SentenceSplitter re-implements ("" where unavailable)."""
    import inspect

    from nltk.tokenize import punkt

    cls = type(tokenizer)
    try:
        parts = [inspect.getsource(getattr(cls, name)) for name in _PORTED_METHODS]
        parts += [inspect.getsource(punkt._pair_iter), inspect.getsource(punkt.PunktToken)]
        # the patterns: the whole language-variables class (its period-context pattern string itself varies
        # between processes: it joins a set of characters, in hash order)
        parts.append(inspect.getsource(type(tokenizer._lang_vars)))
    except (OSError, TypeError, AttributeError):
        return ""
    parts += [repr(cls.PUNCTUATION), repr(tokenizer._Token), repr((punkt._ORTHO_LC, punkt._ORTHO_UC,
                                                                   punkt._ORTHO_MID_UC, punkt._ORTHO_BEG_LC))]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _raw(pattern: Any) -> Any:
    """nltk wraps its patterns in redos.TimedPattern (a timeout per call); `_rx` is the compiled `regex` pattern.
    Only nltk's own fixed patterns are unwrapped (linear on any input)."""
    return getattr(pattern, "_rx", pattern)


class SentenceSplitter:
    """Punkt English sentences of a text (spec D10), memoised, plus an early-exit count for the D10 minimum.

    Hand-written around nltk's tokenizer because C4 calls it once per line and once per page, and nltk's
    Python is most of that time. `_spans` ports nltk's `span_tokenize` (candidate search,
    `_slices_from_text`, `_realign_boundaries`) and `_contains_break` its `text_contains_sentbreak` (word
    tokens, first and second annotation pass, orthographic heuristic), written for speed and to stop after
    the spans a caller needs: the same regular expressions (nltk's compiled `regex` patterns, without nltk's
    timeout wrapper), the same parameters and the same steps, so the same spans. The port runs only while the
    nltk code it mirrors is unchanged (`exact_port`, a digest of that source); otherwise nltk's own
    functions run. tests/c4/test_c4_clean.py compares both with nltk on thousands of texts and contexts.
    """

    def __init__(self, tokenizer: Any) -> None:
        from nltk.tokenize import punkt

        self._tokenizer = tokenizer
        lv = tokenizer._lang_vars
        # Punkt only considers a break where this pattern matches (a sentence-end character followed by
        # punctuation or by whitespace and a token); where it matches nowhere, `tokenize` yields the one
        # slice [0, len(text.rstrip())). Most C4 lines are one sentence.
        self._period_context = _raw(lv.period_context_re())
        self._realign_match = _raw(lv.re_boundary_realignment).match
        self._word_findall = _raw(lv._word_tokenizer_re()).findall
        self._numeric_sub = _raw(punkt.PunktToken._RE_NUMERIC).sub
        self._ellipsis_match = _raw(punkt.PunktToken._RE_ELLIPSIS).match
        self._initial_match = _raw(punkt.PunktToken._RE_INITIAL).match
        params = tokenizer._params
        self._abbrev, self._collocations = params.abbrev_types, params.collocations
        self._sent_starters, self._ortho = params.sent_starters, params.ortho_context
        self._o_lc, self._o_uc = punkt._ORTHO_LC, punkt._ORTHO_UC  # orthographic context flags
        self._o_mid_uc, self._o_beg_lc = punkt._ORTHO_MID_UC, punkt._ORTHO_BEG_LC
        self.exact_port = _nltk_punkt_source(tokenizer) == PORTED_NLTK_PUNKT_SHA256
        # The break decision for a candidate depends on its few-word context alone (the model's parameters are
        # fixed): a pure function, memoised. Contexts such as "it. The" recur across pages, so most decisions
        # become dictionary hits; the sentences are unchanged.
        tokenizer.text_contains_sentbreak = lru_cache(maxsize=1 << 18)(tokenizer.text_contains_sentbreak)
        self._contains_break = lru_cache(maxsize=1 << 18)(self._contains_break_port) if self.exact_port \
            else tokenizer.text_contains_sentbreak
        self._sentences = lru_cache(maxsize=1 << 18)(self._tokenize)

    # ------------------------------------------------------------------ text_contains_sentbreak
    def _contains_break_port(self, text: str) -> bool:
        """`text_contains_sentbreak(text)`: whether a token other than the last ends a sentence after both
        annotation passes. A token's final verdict depends only on it and the next token (first pass of each,
        then `_second_pass_annotation` of the pair), so the pairs are decided one by one."""
        toks: list[str] = []
        for line in text.split("\n"):  # _tokenize_words
            if line.strip():
                toks += self._word_findall(line)
        for i in range(len(toks) - 1):
            if self._breaks(toks[i], toks[i + 1]):
                return True
        return False

    def _first_pass(self, tok: str) -> tuple[bool, bool, bool]:
        """`_first_pass_annotation`: (sentbreak, abbr, ellipsis)."""
        if tok in _SENT_END:
            return True, False, False
        if self._ellipsis_match(tok):
            return False, False, True
        if tok.endswith(".") and not tok.endswith(".."):
            low = tok[:-1].lower()
            if low in self._abbrev or low.split("-")[-1] in self._abbrev:
                return False, True, False
            return True, False, False
        return False, False, False

    def _type_no_period(self, tok: str) -> str:
        """PunktToken.type_no_period: the case-normalised type (numbers -> ##number##) without a final period."""
        typ = self._numeric_sub("##number##", tok.lower())
        return typ[:-1] if len(typ) > 1 and typ[-1] == "." else typ

    def _breaks(self, tok1: str, tok2: str) -> bool:
        """tok1's sentbreak after `_second_pass_annotation(tok1, tok2)` (both after the first pass)."""
        if not tok1.endswith("."):  # not period_final: the first pass decides (no ellipsis without a final ".")
            return tok1 in _SENT_END
        sentbreak, abbr, ellipsis = self._first_pass(tok1)
        typ = self._type_no_period(tok1)
        next_break = self._first_pass(tok2)[0] if tok2.endswith(".") else tok2 in _SENT_END
        next_typ = self._type_no_period(tok2) if next_break else \
            self._numeric_sub("##number##", tok2.lower())  # type_no_sentperiod
        initial = self._initial_match(tok1)
        if (typ, next_typ) in self._collocations:
            return False
        if (abbr or ellipsis) and not initial:
            starter = self._ortho_heuristic(tok2, next_typ)
            if starter is True:
                return True
            if tok2[0].isupper() and next_typ in self._sent_starters:
                return True
        if initial or typ == "##number##":
            starter = self._ortho_heuristic(tok2, next_typ)
            if starter is False:
                return False
            if (starter == "unknown" and initial and tok2[0].isupper()
                    and not (self._ortho.get(next_typ, 0) & self._o_lc)):
                return False
        return sentbreak

    def _ortho_heuristic(self, tok: str, typ: str) -> bool | str:
        """`_ortho_heuristic(tok)`; typ is the token's type_no_sentperiod."""
        if tok in _PUNCTUATION:
            return False
        ortho = self._ortho.get(typ, 0)  # (nltk's defaultdict lookup inserts a 0; the value is the same)
        if tok[0].isupper() and (ortho & self._o_lc) and not (ortho & self._o_mid_uc):
            return True
        if tok[0].islower() and ((ortho & self._o_uc) or not (ortho & self._o_beg_lc)):
            return False
        return "unknown"

    # ------------------------------------------------------------------ span_tokenize
    def _spans(self, text: str, limit: int = 0) -> list[tuple[int, int]]:
        """`list(tokenizer.span_tokenize(text))`, or its first `limit` spans (limit > 0).

        The port, step by step (nltk/tokenize/punkt.py): `_match_potential_end_contexts` finds each candidate
        and the word before it (`before_text`'s last whitespace, found with `rfind` instead of a Python loop
        over characters), dropping a candidate whose word overlaps the next one's; `_slices_from_text` cuts
        where `text_contains_sentbreak(context)`; `_realign_boundaries` pairs each slice with the next.
        """
        out: list[tuple[int, int]] = []
        contains_break = self._contains_break
        finditer = self._period_context.finditer
        realign_match = self._realign_match
        pending = None  # _realign_boundaries' sentence1, waiting for its sentence2
        realign = 0
        last_break = 0  # _slices_from_text
        prev = None  # _match_potential_end_contexts: previous_match and previous_slice
        ps_start = ps_stop = 0
        for m in chain(finditer(text), (None,)):  # None: after the last candidate
            if m is not None:
                ms = m.start()
                # _get_last_whitespace_index(text[ps_stop:ms]): the last of " \t\n\r\x0b\x0c" (string.whitespace)
                i = text.rfind(" ", ps_stop, ms)
                lo = i + 1 if i >= 0 else ps_stop
                if lo < ms and not text[lo:ms].isprintable():  # the other five are not printable
                    for ch in "\t\n\r\x0b\x0c":
                        j = text.rfind(ch, lo, ms)
                        if j > i:
                            i = j
                word_start = i + 1 if i > ps_stop else ps_start  # (nltk: index 0 counts as not found)
            # the previous candidate is decided once the next one does not overlap its word, or at the end;
            # context = previous word + the end character + after_tok, i.e. one slice of the text
            if prev is not None and (m is None or ps_stop <= word_start) \
                    and contains_break(text[ps_start:prev.end("after_tok")]):
                nxt = prev.start("next_tok")
                s2 = (last_break, prev.end())
                last_break = nxt if nxt >= 0 else prev.end()
                if pending is not None:
                    realign = self._realign(text, pending, realign, s2, out, realign_match)
                    if 0 < limit <= len(out):
                        return out[:limit]
                pending = s2
            if m is not None:
                prev, ps_start, ps_stop = m, word_start, ms
        s2 = (last_break, len(text.rstrip()))  # the last sentence, without trailing whitespace
        if pending is not None:
            realign = self._realign(text, pending, realign, s2, out, realign_match)
        start = s2[0] + realign  # (sentence2 None: yield sentence1 if not empty)
        if start < s2[1]:
            out.append((start, s2[1]))
        return out[:limit] if limit > 0 else out

    @staticmethod
    def _realign(text: str, s1: tuple[int, int], realign: int, s2: tuple[int, int], out: list,
                 realign_match) -> int:
        """One step of `_realign_boundaries` for the pair (sentence1, sentence2); returns the next `realign`."""
        start = s1[0] + realign
        # re_boundary_realignment.match needs its first character to be one of its closing marks
        if s2[0] < s2[1] and text[s2[0]] in _CLOSERS:
            m = realign_match(text[s2[0]:s2[1]])
            if m:
                out.append((start, s2[0] + len(m.group(0).rstrip())))
                return m.end()
        if start < s1[1]:  # `if text[sentence1]`: 0 <= start, stop <= len(text)
            out.append((start, s1[1]))
        return 0

    def _tokenize(self, text: str) -> tuple[str, ...]:
        if self._period_context.search(text) is None:
            t = text.rstrip()
            return (t,) if t else ()
        if self.exact_port:
            return tuple(text[s:e] for s, e in self._spans(text))
        return tuple(self._tokenizer.tokenize(text))

    def __call__(self, text: str) -> tuple[str, ...]:
        """The sentences of `text`, exactly `tuple(PunktTokenizer("english").tokenize(text))`."""
        return self._sentences(text)

    def has_at_least(self, text: str, k: int) -> bool:
        """`len(self(text)) >= k`, stopping after the k-th sentence (spec D10's minimum only needs a count).

        Exact: Punkt's `span_tokenize` is a lazy generator whose first k spans are those of the full list.
        """
        if k <= 0:
            return True
        if self.exact_port:
            return len(self._spans(text, k)) >= k
        if self._period_context.search(text) is None:
            return k == 1 and bool(text.rstrip())
        return sum(1 for _ in islice(self._tokenizer.span_tokenize(text), k)) >= k


class ResourceError(ValueError):
    """A C4 resource is missing or differs from the pinned version."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _missing(path: Path, what: str) -> ResourceError:
    return ResourceError(f"{what} not found at {path}; set io.data_dir (env T5REPRO_DATA) to the folder of "
                         "offline resources (nltk_data/, ldnoobw/)")


def verify_punkt(data_dir: str | Path) -> dict[str, str]:
    """Check every English file listed in punkt_tab/SHA256; return {relative path: sha256}."""
    root = Path(data_dir) / PUNKT_REL
    listing = root / "SHA256"
    if not listing.is_file():
        raise _missing(listing, "NLTK punkt_tab checksum list")
    sums: dict[str, str] = {}
    for line in listing.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    english = {k: v for k, v in sums.items() if k.startswith("english/")}
    if not english:
        raise ResourceError(f"{listing} lists no english/ files (io.data_dir)")
    for name, digest in english.items():
        f = root / name
        if not f.is_file():
            raise _missing(f, "NLTK punkt_tab English file")
        if _sha256(f) != digest:
            raise ResourceError(f"{f} has sha256 {_sha256(f)}, expected {digest} (punkt_tab/SHA256); "
                                "check io.data_dir")
    return english


@lru_cache(maxsize=4)
def load_sentence_splitter(data_dir: str) -> SentenceSplitter:
    """Spec D10: NLTK Punkt English (punkt_tab) from data_dir, verified; returns a memoised splitter."""
    import nltk
    from nltk.tokenize import PunktTokenizer

    verify_punkt(data_dir)
    nltk_dir = str(Path(data_dir) / "nltk_data")
    if nltk_dir not in nltk.data.path:
        nltk.data.path.insert(0, nltk_dir)
    found = Path(nltk.data.find("tokenizers/punkt_tab/english/"))
    if Path(nltk_dir).resolve() not in found.resolve().parents:
        raise ResourceError(f"NLTK found punkt_tab at {found}, not under {nltk_dir} (io.data_dir)")
    return SentenceSplitter(PunktTokenizer("english"))


def load_badwords(data_dir: str | Path) -> list[str]:
    """Spec D11: the LDNOOBW `en` entries (stripped, verbatim), after checking the pinned sha256."""
    path = Path(data_dir) / LDNOOBW_REL
    if not path.is_file():
        raise _missing(path, "LDNOOBW bad-words list")
    digest = _sha256(path)
    if digest != LDNOOBW_EN_SHA256:
        raise ResourceError(f"{path} has sha256 {digest}, expected {LDNOOBW_EN_SHA256} (LDNOOBW en @ "
                            f"{LDNOOBW_COMMIT[:7]}); check io.data_dir")
    return [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]


def manifest(data_dir: str | Path) -> dict:
    """What the build used, for manifest.json (spec D24)."""
    return {
        "data_dir": str(data_dir),
        "ldnoobw_en": {"commit": LDNOOBW_COMMIT, "sha256": LDNOOBW_EN_SHA256, "path": str(LDNOOBW_REL)},
        "punkt_tab_english": {"path": str(PUNKT_REL), "sha256": verify_punkt(data_dir)},
    }
