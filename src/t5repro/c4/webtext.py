"""Spec D8: the WebText-like URL join (TFDS c4 `webtextlike`, paper §3.4.1 / Table 8 "WebText-like").

OpenWebText's URL lists (Reddit submissions with score >= 3) come as `OpenWebText.zip`, a manual download
(TFDS `MANUAL_DOWNLOAD_INSTRUCTIONS`), holding `OpenWebText/Version 1/URLs/*.txt`, one URL per line. Every
URL is normalised with D7 (`dedup.normalize_url`); after D7's URL dedup a page is kept iff its normalised
URL is in that set. That is TFDS's `CoGroupByKey` of `(normalize_url(url), page)` with
`(normalize_url(owt_url), ...)` followed by `filter_by_webtextlike` (a key with pages and at least one
OpenWebText URL yields its single page), written as a set lookup.

Lines are read as Beam's `ReadFromText` reads them: split at `\\n`, a trailing `\\r` removed, nothing else
stripped (a URL with a trailing space keeps it, and so does not match); empty lines are skipped (an empty
key matches no page, D4).
"""

from __future__ import annotations

import fnmatch
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from t5repro.c4.dedup import normalize_url

ZIP_NAME = "OpenWebText.zip"
URL_FILE_PATTERN = "OpenWebText/Version 1/URLs/*.txt"  # TFDS `_OPENWEBTEXT_URLS_FILE_PATTERN`
MANUAL_URL = "https://mega.nz/#F!EZZD0YwJ!9_PlEQzdMVLaNdKv_ICNVQ"  # TFDS `_OPENWEBTEXT_URLS_URL`
_URL_DIR = PurePosixPath(URL_FILE_PATTERN).parent


def _lines(data: bytes, name: str) -> Iterator[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not UTF-8 ({e})") from None
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if line:
            yield line


def is_url_file(name: str) -> bool:
    p = PurePosixPath(name)
    return p.parent == _URL_DIR and fnmatch.fnmatchcase(p.name, "*.txt")


def iter_openwebtext_urls(path: str | Path) -> Iterator[str]:
    """The raw URLs of `OpenWebText.zip` or of a folder holding `OpenWebText/Version 1/URLs/*.txt`.

    Files are read in sorted name order. Raises FileNotFoundError when `path` does not exist and
    ValueError when it holds no URL file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (expected {ZIP_NAME} or its extracted folder)")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a zip file (expected {ZIP_NAME} holding {URL_FILE_PATTERN})")
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if is_url_file(n))
            if not names:
                raise ValueError(f"{path}: no member matches {URL_FILE_PATTERN}")
            for name in names:
                yield from _lines(zf.read(name), f"{path}:{name}")
        return
    files = sorted(path.glob(URL_FILE_PATTERN))
    if not files:
        raise ValueError(f"{path}: no file matches {path / URL_FILE_PATTERN}")
    for f in files:
        yield from _lines(f.read_bytes(), str(f))


def normalize_urls(urls: Iterable[str]) -> frozenset[str]:
    """Spec D8: the set of D7-normalised URLs."""
    return frozenset(normalize_url(u) for u in urls)


def load_openwebtext_urls(path: str | Path) -> frozenset[str]:
    """Spec D8: every OpenWebText URL of `OpenWebText.zip` (or its extracted folder), normalised with D7."""
    return normalize_urls(iter_openwebtext_urls(path))


class UrlDigestSet:
    """A set of normalised URLs held as sorted 128-bit MD5 digests: 16 bytes a URL instead of ~100.

    OpenWebText lists ~23 M URLs; as Python strings in a frozenset they take several GB, more than a C4 job
    may use (issue: < 2 GB per job). Membership is exact but for MD5 collisions (probability ~10^-22 here).
    """

    _CHUNK = 1 << 20

    def __init__(self, normalized_urls: Iterable[str]):
        import hashlib

        import numpy as np

        chunks, buf = [], []
        for u in normalized_urls:
            buf.append(hashlib.md5(u.encode("utf-8")).digest())
            if len(buf) >= self._CHUNK:
                chunks.append(np.frombuffer(b"".join(buf), dtype=">u8").reshape(-1, 2))
                buf = []
        if buf:
            chunks.append(np.frombuffer(b"".join(buf), dtype=">u8").reshape(-1, 2))
        pairs = np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=">u8")
        order = np.lexsort((pairs[:, 1], pairs[:, 0]))
        pairs = pairs[order]
        if len(pairs):
            keep = np.ones(len(pairs), dtype=bool)
            keep[1:] = (pairs[1:] != pairs[:-1]).any(axis=1)
            pairs = pairs[keep]
        self._hi = np.ascontiguousarray(pairs[:, 0]).astype(np.uint64)
        self._lo = np.ascontiguousarray(pairs[:, 1]).astype(np.uint64)

    def __len__(self) -> int:
        return len(self._hi)

    def __contains__(self, normalized_url: str) -> bool:
        import hashlib

        d = hashlib.md5(normalized_url.encode("utf-8")).digest()
        hi, lo = int.from_bytes(d[:8], "big"), int.from_bytes(d[8:], "big")
        i = int(self._hi.searchsorted(hi))
        while i < len(self._hi) and int(self._hi[i]) == hi:
            if int(self._lo[i]) == lo:
                return True
            i += 1
        return False


def load_openwebtext_digests(path: str | Path) -> UrlDigestSet:
    """Spec D8 for the C4 jobs: `load_openwebtext_urls` as a compact `UrlDigestSet`."""
    return UrlDigestSet(normalize_url(u) for u in iter_openwebtext_urls(path))


def keep(page_url: str, urls: frozenset[str] | set[str] | UrlDigestSet) -> bool:
    """Spec D8: keep a page iff the D7 normalisation of its (raw) URL is one of the normalised OpenWebText URLs."""
    return normalize_url(page_url) in urls
