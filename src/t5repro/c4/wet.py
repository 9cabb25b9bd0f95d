"""Spec data.md §1.2 (D3-D4): read a WET file into pages, reproducing TFDS c4_utils `split_wet_file`.

The reference decompresses the whole (multi-member) gzip file, decodes it as strict UTF-8 and iterates over
its lines with universal newlines; the D3 rules then apply to those lines. `iter_wet_lines` produces exactly
that line stream, in one streaming pass written by hand over zlib (warcio, which we use to write WET files,
rewrites header values when it parses them: it percent-encodes spaces in URIs, strips `<...>`, folds
continuation lines and decodes headers as Latin-1, each of which changes C4's output; tests/c4/
test_c4_tfds_golden.py pins these cases against TFDS). Both D3 quirks are kept: a body line `WARC/1.0`
ends the page and opens a new one, and a body line starting with a captured header name overwrites that field.

Errors (spec D2: the caller reports and skips the file): a truncated or corrupt gzip member, bytes that are
not UTF-8, an empty file, or data that is not WARC at all raise `WetFormatError` naming the file and the byte
offset of the gzip member. A record whose Content-Length does not frame it (WARC/1.0 §6) is read as the
reference reads it (line by line, Content-Length unused) and counted as `wet-records-bad-framing`, with a
warning: the output stays identical to the reference's and the problem is visible in the statistics.
"""

from __future__ import annotations

import codecs
import logging
import re
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator, MutableMapping

logger = logging.getLogger(__name__)

PAGE_DELIMITER = "WARC/1.0"  # spec D3
METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")  # spec D3: never text, even inside a body
_CAPTURE = (("WARC-Target-URI:", "url"), ("WARC-Date:", "timestamp"), ("Content-Type:", "content_type"),
            ("Content-Length:", "content_length"))
# split_pages' fast path relies on this: a line that is none of these prefixes is plain page text.
assert PAGE_DELIMITER.startswith(METADATA_PREFIXES) and all(p.startswith(METADATA_PREFIXES) for p, _ in _CAPTURE)
_CAPTURE_FIELD = {p[:-1]: f for p, f in _CAPTURE}  # and on this: each prefix ends with its only colon
assert all(p.index(":") == len(p) - 1 for p, _ in _CAPTURE)
_NEWLINE = re.compile(r"\r\n|\r|\n")  # universal newlines, as io.TextIOWrapper splits (not str.splitlines)


class WetFormatError(ValueError):
    """A WET file that is not valid gzip/WARC/UTF-8; the message names the file and the byte offset."""


@dataclass(frozen=True)
class Page:
    """One web page as C4 carries it (D17 fields) plus where it came from (file order, for determinism)."""

    url: str
    text: str
    timestamp: str = ""
    content_type: str = ""
    content_length: str = ""
    source: str = ""  # "<file name>#<page number>"; only for logs and a stable order

    def record(self) -> dict:
        """The output record of spec D17."""
        return {"url": self.url, "text": self.text, "timestamp": self.timestamp,
                "content-type": self.content_type, "content-length": self.content_length}

    def with_text(self, text: str) -> "Page":
        """`dataclasses.replace(self, text=text)` without its per-call field introspection (once per page and
        pass); the field list it relies on is checked below."""
        return Page(self.url, text, self.timestamp, self.content_type, self.content_length, self.source)


assert [f.name for f in fields(Page)] == ["url", "text", "timestamp", "content_type", "content_length", "source"]


# ---------------------------------------------------------------------------------------------- D3 lines
def split_pages(lines: Iterable[str], counters: MutableMapping[str, int], *, require_timestamp: bool = False,
                source: str = "") -> Iterator[Page]:
    """Spec D3/D4: cut a stream of decoded WET lines into pages; every dropped record is counted."""
    return split_page_batches((lines,), counters, require_timestamp=require_timestamp, source=source)


def split_page_batches(batches: Iterable[Iterable[str]], counters: MutableMapping[str, int], *,
                       require_timestamp: bool = False, source: str = "") -> Iterator[Page]:
    """`split_pages` over the lines of each batch in turn (a WET file's gzip members), a batch at a time.

    The reference's loop over lines (D3), reorganised for speed with the same result: a line is stripped, an
    empty one skipped; one that starts with a METADATA_PREFIXES entry (the delimiter and every captured header
    among them) goes through the record logic below, every other line is page text, appended to the current
    record's content in one `extend` per run of such lines (an error before the first record).
    """
    state: dict | None = None
    n = 0
    content: list[str] = []
    for batch in batches:
        stripped = list(map(str.strip, batch))
        meta = [i for i, line in enumerate(stripped) if line.startswith(METADATA_PREFIXES)]
        meta.append(len(stripped))
        pos = 0
        for i in meta:
            if pos < i:  # plain text lines pos .. i - 1
                if state is not None:
                    content.extend(filter(None, stripped[pos:i]))
                else:
                    first = next(filter(None, stripped[pos:i]), None)
                    if first is not None:
                        raise WetFormatError(f"{source}: text before the first {PAGE_DELIMITER} line: {first[:80]!r}")
            pos = i + 1
            if i == len(stripped):
                break
            line = stripped[i]
            if line == PAGE_DELIMITER:
                page = _finish(state, counters, require_timestamp, f"{source}#{n}")
                n += 1
                if page is not None:
                    yield page
                content = []
                state = {"url": "", "timestamp": "", "content_type": "", "content_length": "", "content": content}
            if state is None:
                raise WetFormatError(f"{source}: text before the first {PAGE_DELIMITER} line: {line[:80]!r}")
            # spec D3: header capture anywhere in the record (quirk kept). `line.startswith(prefix)` for the one
            # _CAPTURE prefix (if any) that is the line's text up to its first colon (no prefix has another).
            name, colon, value = line.partition(":")
            field = _CAPTURE_FIELD.get(name) if colon else None
            if field is not None:
                state[field] = value.strip()
            # (a METADATA_PREFIXES line is never page text)
    page = _finish(state, counters, require_timestamp, f"{source}#{n}")
    if page is not None:
        yield page


def _finish(state: dict | None, counters: MutableMapping[str, int], require_timestamp: bool,
            source: str) -> Page | None:
    """Spec D4: a page needs a url and text (and, v3, a timestamp); count the first failing reason only."""
    if state is None:
        return None
    if not state["url"]:
        reason = "page-filtered-nourl"  # the leading warcinfo record always lands here
    elif not state["content"]:
        reason = "page-filtered-nocontent"
    elif require_timestamp and not state["timestamp"]:
        reason = "page-filtered-notimestamp"
    else:
        counters["page-emitted"] = counters.get("page-emitted", 0) + 1
        return Page(url=state["url"], text="\n".join(state["content"]), timestamp=state["timestamp"],
                    content_type=state["content_type"], content_length=state["content_length"], source=source)
    counters[reason] = counters.get(reason, 0) + 1
    return None


# ---------------------------------------------------------------------------------------------- records
_CONTENT_LENGTH = re.compile(rb"(?im)^Content-Length:[ \t]*(\d+)[ \t]*\r?$")


def framing_ok(member: bytes) -> bool:
    """Whether a gzip member holds whole WARC records framed by their Content-Length (header block, CRLF CRLF,
    Content-Length bytes, CRLF CRLF), one or more of them."""
    pos = 0
    while pos < len(member):
        if not member.startswith(b"WARC/", pos):
            return False
        end = member.find(b"\r\n\r\n", pos)
        m = _CONTENT_LENGTH.search(member, pos, end) if end >= 0 else None
        if m is None:
            return False
        nxt = end + 4 + int(m.group(1))
        if member[nxt:nxt + 4] != b"\r\n\r\n":
            return False
        pos = nxt + 4
    return True


def iter_members(path: Path, chunk: int = 1 << 16) -> Iterator[tuple[int, bytes]]:
    """(byte offset, decompressed bytes) of each gzip member; hand-written over zlib because Python's gzip
    module reports neither member offsets nor where a truncated member started.

    The file is read `chunk` bytes at a time: at the end of each member zlib copies what is left of the chunk
    (`unused_data`), so the chunk stays small (a Common Crawl WET file has tens of thousands of members: with
    1 MiB chunks those copies came to hundreds of times the file's size)."""
    d = None
    pos = member_start = 0
    parts: list[bytes] = []
    with open(path, "rb") as f:
        data = f.read(chunk)
        if not data:
            raise WetFormatError(f"{path}: empty file at byte offset 0")
        while data:
            if d is None:
                d, member_start, parts = zlib.decompressobj(wbits=31), pos, []
            try:
                parts.append(d.decompress(data))
            except zlib.error as e:
                raise WetFormatError(f"{path}: corrupt gzip member at byte offset {member_start}: {e}") from None
            if d.eof:
                pos += len(data) - len(d.unused_data)
                data, d = d.unused_data, None
                yield member_start, b"".join(parts)
            else:
                pos += len(data)
                data = b""
            if not data:
                data = f.read(chunk)
    if d is not None:
        raise WetFormatError(f"{path}: truncated gzip member at byte offset {member_start} "
                             f"(file ends at byte {pos} before the member's end)")


def split_newlines(text: str) -> list[str]:
    """`_NEWLINE.split(text)` (universal newlines: \\r\\n, \\r, \\n), by two C-level replaces and a split: a
    CR LF pair is one break either way, and every other CR or LF is one."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def iter_wet_lines(path: str | Path, counters: MutableMapping[str, int] | None = None) -> Iterator[str]:
    """The lines the reference reads from a WET file: strict UTF-8, universal newlines, across gzip members."""
    for lines in iter_wet_line_batches(path, counters):
        yield from lines


def iter_wet_line_batches(path: str | Path, counters: MutableMapping[str, int] | None = None) -> Iterator[list[str]]:
    """`iter_wet_lines`, as one list of lines per gzip member (the last line of a member that does not end with
    a newline goes with the next member's lines)."""
    path = Path(path)
    counters = counters if counters is not None else {}
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    pending = ""
    first = True
    for offset, member in iter_members(path):
        if first and not member.startswith(b"WARC/"):
            raise WetFormatError(f"{path}: not a WARC file at byte offset {offset} (starts {member[:20]!r})")
        first = False
        counters["wet-records"] = counters.get("wet-records", 0) + member.count(b"\r\n\r\nWARC/") + 1
        if not framing_ok(member):
            counters["wet-records-bad-framing"] = counters.get("wet-records-bad-framing", 0) + 1
            logger.warning("%s: WARC record(s) at byte offset %d not framed by their Content-Length; read line by "
                           "line as the reference does", path, offset)
        try:
            text = pending + decoder.decode(member)
        except UnicodeDecodeError as e:
            raise WetFormatError(f"{path}: gzip member at byte offset {offset}: not valid utf-8 ({e.reason} at "
                                 f"position {e.start} of the member)") from None
        lines = split_newlines(text)
        pending = lines.pop()  # an unterminated last line continues in the next member
        if pending.endswith("\r"):  # a CR that may pair with the next member's LF
            lines.append(pending[:-1])
            pending = "\r"
        yield lines
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        raise WetFormatError(f"{path}: the file ends inside a utf-8 character ({e.reason})") from None
    if pending and pending != "\r":
        yield [pending]


def read_wet_file(path: str | Path, counters: MutableMapping[str, int], *,
                  require_timestamp: bool = False) -> Iterator[Page]:
    """Spec D3/D4 on one WET file: the valid pages, in file order; drops and records counted."""
    path = Path(path)
    counters["wet-file"] = counters.get("wet-file", 0) + 1
    yield from split_page_batches(iter_wet_line_batches(path, counters), counters,
                                  require_timestamp=require_timestamp, source=path.name)
