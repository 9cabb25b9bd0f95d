"""Spec data.md §1.2 (D3-D4): read a WET file into pages, reproducing TFDS c4_utils `split_wet_file`.

warcio's `ArchiveIterator` walks the records: it checks each gzip member and each WARC header block, and gives
us record offsets and block digests. The D3 line rules are then applied to the stream of lines that the
reference sees when it reads the decompressed file as text: for every record the `WARC/1.0` line, its header
lines (`Name: value`, in file order) and its body lines (strict UTF-8, universal newlines). That keeps both
D3 quirks: a body line `WARC/1.0` ends the page and opens a new one, and a body line starting with a captured
header name (`WARC-Target-URI:`, `WARC-Date:`, `Content-Type:`, `Content-Length:`) overwrites that field.

Deviation from the reference (brief): any malformed input (truncated gzip, bad WARC header, wrong
Content-Length, bad digest, non-UTF-8 body) raises `WetFormatError` naming the file and the record's byte
offset (offset of the gzip member in the compressed file); spec D2 would skip the file instead.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, MutableMapping

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

PAGE_DELIMITER = "WARC/1.0"  # spec D3
METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")  # spec D3: never text, even inside a body
_CAPTURE = (("WARC-Target-URI:", "url"), ("WARC-Date:", "timestamp"), ("Content-Type:", "content_type"),
            ("Content-Length:", "content_length"))
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


# ---------------------------------------------------------------------------------------------- D3 lines
def split_pages(lines: Iterable[str], counters: MutableMapping[str, int], *, require_timestamp: bool = False,
                source: str = "") -> Iterator[Page]:
    """Spec D3/D4: cut a stream of decoded WET lines into pages; every dropped record is counted."""
    state: dict | None = None
    n = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line == PAGE_DELIMITER:
            page = _finish(state, counters, require_timestamp, f"{source}#{n}")
            n += 1
            if page is not None:
                yield page
            state = {"url": "", "timestamp": "", "content_type": "", "content_length": "", "content": []}
        if state is None:
            raise WetFormatError(f"{source}: text before the first {PAGE_DELIMITER} line: {line[:80]!r}")
        for prefix, field in _CAPTURE:  # spec D3: header capture anywhere in the record (quirk kept)
            if line.startswith(prefix):
                state[field] = line[len(prefix):].strip()
        if line.startswith(METADATA_PREFIXES):
            continue
        state["content"].append(line)
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
_REQUIRED_HEADERS = ("WARC-Type", "WARC-Record-ID", "WARC-Date", "Content-Length")  # WARC/1.0 §5: mandatory


def check_gzip_members(path: str | Path, chunk: int = 1 << 20) -> list[int]:
    """Byte offsets of the gzip members of a file, each checked to hold exactly one framed WARC record.

    Hand-written with zlib because warcio stops quietly when the file ends inside a member's trailer, and
    tolerates a Content-Length that is off by the few bytes of the record's trailing CRLFs; Python's gzip
    module does not report member offsets. Raises WetFormatError naming the file and the member's offset.
    """
    path = Path(path)
    offsets: list[int] = []
    pos = 0  # compressed bytes consumed before `data`
    member_start = 0
    d = None
    parts: list[bytes] = []
    with open(path, "rb") as f:
        data = f.read(chunk)
        while data:
            if d is None:
                d, member_start, parts = zlib.decompressobj(wbits=31), pos, []
                offsets.append(member_start)
            try:
                parts.append(d.decompress(data))
            except zlib.error as e:
                raise WetFormatError(f"{path}: corrupt gzip member at byte offset {member_start}: {e}") from None
            if d.eof:
                pos += len(data) - len(d.unused_data)
                data, d = d.unused_data, None
                _check_framing(path, member_start, b"".join(parts))
            else:
                pos += len(data)
                data = b""
            if not data:
                data = f.read(chunk)
    if d is not None:
        raise WetFormatError(f"{path}: truncated gzip member at byte offset {member_start} "
                             f"(file ends at byte {pos} before the member's end)")
    if not offsets:
        raise WetFormatError(f"{path}: empty file at byte offset 0")
    return offsets


_CONTENT_LENGTH = re.compile(rb"(?im)^Content-Length:[ \t]*(\d+)[ \t]*\r?$")


def _check_framing(path: Path, offset: int, member: bytes) -> None:
    """One record per member: header block, CRLF CRLF, Content-Length bytes of block, CRLF CRLF."""
    if not member.startswith(b"WARC/"):
        return  # not a WARC record start: let warcio name the problem
    end = member.find(b"\r\n\r\n")
    m = _CONTENT_LENGTH.search(member, 0, end if end >= 0 else len(member))
    if end < 0 or m is None:
        raise WetFormatError(f"{path}: bad WARC record at byte offset {offset}: malformed WARC header block "
                             "(no Content-Length or no blank line after the headers)")
    block = len(member) - (end + 4) - 4
    if block != int(m.group(1)) or not member.endswith(b"\r\n\r\n"):
        raise WetFormatError(f"{path}: bad WARC record at byte offset {offset}: Content-Length {int(m.group(1))} "
                             f"but the record's block has {block} bytes")


def iter_wet_lines(path: str | Path, counters: MutableMapping[str, int] | None = None) -> Iterator[str]:
    """The lines the reference reads from a WET file, taken record by record from warcio (validated)."""
    path = Path(path)
    counters = counters if counters is not None else {}
    check_gzip_members(path)
    offset = 0
    with open(path, "rb") as f:
        it = ArchiveIterator(f, check_digests="raise")
        records = iter(it)
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except (ArchiveLoadFailed, EOFError, OSError, ValueError) as e:
                raise WetFormatError(f"{path}: bad WARC record at byte offset {offset}: {_msg(e)}") from None
            try:
                lines = _record_lines(record, it)
            except (ArchiveLoadFailed, EOFError, OSError, ValueError) as e:
                raise WetFormatError(f"{path}: bad WARC record at byte offset {offset}: {_msg(e)}") from None
            offset = max(0, it.get_record_offset() + it.get_record_length())
            counters["wet-records"] = counters.get("wet-records", 0) + 1
            yield from lines
        if offset != path.stat().st_size:  # hand-written: warcio stops quietly at a cut inside a gzip member
            raise WetFormatError(f"{path}: truncated or trailing data at byte offset {offset} "
                                 f"(file has {path.stat().st_size} bytes)")


def _record_lines(record, it: ArchiveIterator) -> list[str]:
    """Protocol line, header lines and body lines of one record; checks Content-Length and UTF-8."""
    errors_before = it.err_count
    missing = [h for h in _REQUIRED_HEADERS if record.rec_headers.get_header(h) is None]
    if missing or record.rec_headers.protocol not in ("WARC/1.0", "WARC/1.1"):
        raise ValueError(f"malformed WARC header block (protocol {record.rec_headers.protocol!r}, "
                         f"missing {', '.join(missing) or 'nothing'})")
    body = record.raw_stream.read()
    declared = record.rec_headers.get_header("Content-Length")
    if declared is None or not declared.strip().isdigit():
        raise ValueError(f"missing or invalid Content-Length {declared!r}")
    if len(body) != int(declared):
        raise ValueError(f"Content-Length {declared} but the block has {len(body)} bytes")
    it.read_to_end()
    if it.err_count != errors_before:  # warcio only warns on stderr when data follows the declared length
        raise ValueError(f"data after the {declared} bytes declared by Content-Length")
    text = body.decode("utf-8")  # strict (D3); UnicodeDecodeError is a ValueError
    lines = [record.rec_headers.protocol or PAGE_DELIMITER]
    lines += [f"{name}: {value}" for name, value in record.rec_headers.headers]
    lines += _NEWLINE.split(text)
    return lines


def _msg(e: Exception) -> str:
    return " ".join(str(e).split())[:300] or type(e).__name__


def read_wet_file(path: str | Path, counters: MutableMapping[str, int], *,
                  require_timestamp: bool = False) -> Iterator[Page]:
    """Spec D3/D4 on one WET file: the valid pages, in file order; drops and records counted."""
    path = Path(path)
    counters["wet-file"] = counters.get("wet-file", 0) + 1
    yield from split_pages(iter_wet_lines(path, counters), counters, require_timestamp=require_timestamp,
                           source=path.name)
