"""Fixtures for the C4 tests: the offline resources (io.data_dir) and a WET-record builder."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from t5repro.c4 import resources


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("T5REPRO_DATA", "/work/shared/data"))
    assert (path / "ldnoobw" / "en").is_file(), f"offline C4 resources missing under {path} (T5REPRO_DATA)"
    return path


@pytest.fixture(scope="session")
def sentences(data_dir):
    return resources.load_sentence_splitter(str(data_dir))


@pytest.fixture(scope="session")
def badwords(data_dir) -> list[str]:
    return resources.load_badwords(data_dir)


def _wet_member(url: str | None, body: bytes, *, declared: int | None = None, date: str = "2019-04-20T10:00:00Z",
               rec_type: str = "conversion", extra: str = "") -> bytes:
    """One gzip member holding one WARC record, written by hand so that tests can break it on purpose."""
    head = f"WARC/1.0\r\nWARC-Type: {rec_type}\r\n"
    if url is not None:
        head += f"WARC-Target-URI: {url}\r\n"
    head += (f"WARC-Date: {date}\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{abs(hash(url)) % 10**12:012d}>\r\n"
             f"{extra}Content-Type: text/plain\r\nContent-Length: {len(body) if declared is None else declared}\r\n\r\n")
    return gzip.compress(head.encode() + body + b"\r\n\r\n", mtime=0)


@pytest.fixture(scope="session")
def wet_member():
    return _wet_member
