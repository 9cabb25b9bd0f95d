"""The external resources C4 needs (spec D1, D10, D11): NLTK Punkt English and the LDNOOBW `en` list.

Both are read from `io.data_dir` (offline copies, /work/shared/data/README.md) and checked against their
sha256 before use; a missing or changed file is a ResourceError naming the file and the config key.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from itertools import islice
from typing import Any

LDNOOBW_COMMIT = "25e679f03d96baa721cde20db9944649e8d0a844"  # spec D1/D11: the commit TFDS pins
LDNOOBW_EN_SHA256 = "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"
PUNKT_REL = Path("nltk_data/tokenizers/punkt_tab")
LDNOOBW_REL = Path("ldnoobw/en")



class SentenceSplitter:
    """Punkt English sentences of a text (spec D10), memoised, plus an early-exit count for the D10 minimum.

    Hand-written around nltk's tokenizer (not a re-implementation) because C4 calls it once per line and
    once per page: the fast paths below make the same decisions as `tokenizer.tokenize`, by construction.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        # Punkt only considers a break where this pattern matches (a sentence-end character followed by
        # punctuation or by whitespace and a token); where it matches nowhere, `tokenize` yields the one
        # slice [0, len(text.rstrip())). Most C4 lines are one sentence.
        self._period_context = tokenizer._lang_vars.period_context_re()
        # `text_contains_sentbreak(context)` decides each candidate break from its few-word context alone
        # (the model's parameters are fixed): a pure function, memoised per instance. Contexts such as
        # "it. The" recur across pages, so most decisions become dictionary hits; the sentences are unchanged.
        tokenizer.text_contains_sentbreak = lru_cache(maxsize=1 << 18)(tokenizer.text_contains_sentbreak)
        self._sentences = lru_cache(maxsize=1 << 18)(self._tokenize)

    def _tokenize(self, text: str) -> tuple[str, ...]:
        if self._period_context.search(text) is None:
            t = text.rstrip()
            return (t,) if t else ()
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
