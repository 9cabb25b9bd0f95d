"""Spec D3/D4 WET parsing (with its reference quirks), the generator's round trip, and bad-input errors."""

from __future__ import annotations

import gzip
import re
from collections import Counter

import pytest

from t5repro.c4 import wetgen
from t5repro.c4.wet import WetFormatError, iter_wet_lines, read_wet_file, split_pages

HEADER = ["WARC/1.0", "WARC-Type: conversion", "WARC-Target-URI: http://a.org/x", "WARC-Date: 2019-04-20T00:00:00Z",
          "Content-Type: text/plain", "Content-Length: 99"]


def test_d3_basic_fields_and_blank_lines():  # spec D3: strip, skip blanks, join with \n
    c: Counter = Counter()
    pages = list(split_pages(HEADER + ["  Hello world.  ", "", "\tSecond line.", ""], c))
    assert len(pages) == 1
    p = pages[0]
    assert (p.url, p.timestamp, p.content_type, p.content_length) == ("http://a.org/x", "2019-04-20T00:00:00Z",
                                                                      "text/plain", "99")
    assert p.text == "Hello world.\nSecond line."


def test_d3_body_metadata_lines_are_not_text():  # spec D3 quirk: prefixes apply inside the body too
    body = ["Content-wise this line vanishes.", "CONTENT-FREE also vanishes.", "WARCHIVE vanishes.", "Kept line."]
    pages = list(split_pages(HEADER + body, Counter()))
    assert pages[0].text == "Kept line."


def test_d3_body_header_capture_overwrites():  # spec D3 quirk: header capture is not limited to the header
    body = ["Real text.", "WARC-Date: 2020-01-01T00:00:00Z", "Content-Type: application/x-test",
            "WARC-Target-URI: http://b.org/y"]
    p = list(split_pages(HEADER + body, Counter()))[0]
    assert (p.url, p.timestamp, p.content_type, p.text) == ("http://b.org/y", "2020-01-01T00:00:00Z",
                                                            "application/x-test", "Real text.")


def test_d3_body_warc_line_splits_page_and_d4_drops_urlless_tail():  # spec D3 quirk + D4
    c: Counter = Counter()
    body = ["First part.", "  WARC/1.0  ", "Orphan text."]
    pages = list(split_pages(HEADER + body + HEADER + ["Next page."], c))
    assert [p.text for p in pages] == ["First part.", "Next page."]
    assert c["page-filtered-nourl"] == 1 and c["page-emitted"] == 2


def test_d4_no_content_and_timestamp_rule():  # spec D4 (v3 also needs a timestamp)
    c: Counter = Counter()
    assert list(split_pages(HEADER, c)) == [] and c["page-filtered-nocontent"] == 1
    no_date = [h for h in HEADER if not h.startswith("WARC-Date")] + ["Text."]
    assert len(list(split_pages(no_date, Counter()))) == 1
    c3: Counter = Counter()
    assert list(split_pages(no_date, c3, require_timestamp=True)) == [] and c3["page-filtered-notimestamp"] == 1


def test_wet_round_trip(tmp_path):  # generator -> warcio -> D3: every record accounted for
    pages = wetgen.file_pages(7, 0, 40)
    path = tmp_path / "CC-MAIN-smoke-00000.warc.wet.gz"
    wetgen.write_wet_file(path, 0, pages, 7)
    c: Counter = Counter()
    parsed = list(read_wet_file(path, c))
    assert c["wet-records"] == 41  # warcinfo + 40 conversion records
    n_empty = sum(not p.lines for p in pages)
    n_split = sum("WARC/1.0" in p.lines for p in pages)
    assert c["page-filtered-nocontent"] == n_empty and c["page-filtered-nourl"] == 1 + n_split
    assert len(parsed) == 40 - n_empty
    assert all(p.url and p.text and p.timestamp for p in parsed)
    assert all(p.content_type in ("text/plain", "application/warc") for p in parsed)
    by_url = {p.url: p for p in parsed}
    for spec in pages:
        if spec.lines and "WARC/1.0" not in spec.lines and not any(x.startswith(("WARC", "Content-")) for x in spec.lines):
            assert by_url[spec.url].text == "\n".join(x.strip() for x in spec.lines if x.strip())
            assert by_url[spec.url].content_length == str(len("\n".join(spec.lines).encode()))


def test_wet_file_headers_and_determinism(tmp_path):  # a real WET: warcinfo first, CC headers, exact length
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        wetgen.write_wet_file(tmp_path / d / "f.warc.wet.gz", 0, wetgen.file_pages(3, 0, 20), 3)
    raw = (tmp_path / "a" / "f.warc.wet.gz").read_bytes()
    assert raw == (tmp_path / "b" / "f.warc.wet.gz").read_bytes()
    text = gzip.decompress(raw)
    records = text.split(b"WARC/1.0\r\n")[1:]
    assert records[0].startswith(b"WARC-Type: warcinfo")
    for rec in records[1:3]:
        head, body = rec.split(b"\r\n\r\n", 1)
        names = [line.split(b":")[0] for line in head.split(b"\r\n")]
        for h in (b"WARC-Type", b"WARC-Target-URI", b"WARC-Date", b"WARC-Record-ID", b"WARC-Refers-To",
                  b"WARC-Block-Digest", b"Content-Type", b"Content-Length"):
            assert h in names
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        assert body[length:] == b"\r\n\r\n"


def test_generator_badwords_are_in_the_list(badwords):  # the obfuscated words really are LDNOOBW entries
    assert set(wetgen.BADWORDS) <= set(badwords)


def _write(tmp_path, members: list[bytes]):
    path = tmp_path / "bad.warc.wet.gz"
    path.write_bytes(b"".join(members))
    return path


@pytest.fixture
def good(wet_member) -> list[bytes]:
    return [wet_member(None, b"software: t\r\n", rec_type="warcinfo"),
            wet_member("http://a.org/1", "Some text here.\nMore text here.".encode())]


def test_truncated_gzip_names_file_and_offset(tmp_path, good):
    data = b"".join(good)
    path = _write(tmp_path, [data[:-6]])
    with pytest.raises(WetFormatError, match=rf"bad\.warc\.wet\.gz: truncated gzip member at byte offset {len(good[0])}"):
        list(iter_wet_lines(path))


@pytest.mark.parametrize("delta", [-3, 3])
def test_wrong_content_length_is_counted_and_read_as_the_reference_does(tmp_path, delta, good, wet_member):
    """A record not framed by its Content-Length: counted, and its lines read like TFDS reads them (D3)."""
    body = "Some text here.\nMore text here.".encode()
    path = _write(tmp_path, good + [wet_member("http://a.org/2", body, declared=len(body) + delta)] + good[1:])
    counters: dict = {}
    pages = list(read_wet_file(path, counters))
    assert counters["wet-records-bad-framing"] == 1
    assert [p.url for p in pages] == ["http://a.org/1", "http://a.org/2", "http://a.org/1"]
    assert pages[1].text == "Some text here.\nMore text here."


def test_non_utf8_and_not_warc(tmp_path, good, wet_member):
    path = _write(tmp_path, good + [wet_member("http://a.org/2", b"caf\xe9 au lait.")])
    with pytest.raises(WetFormatError, match=rf"byte offset {len(good[0]) + len(good[1])}: .*utf-8"):
        list(iter_wet_lines(path))
    with pytest.raises(WetFormatError, match="not a WARC file at byte offset 0"):
        list(iter_wet_lines(_write(tmp_path, [gzip.compress(b"HTTP/1.1 200 OK\r\n\r\n")])))
    with pytest.raises(WetFormatError, match="empty file at byte offset 0"):
        list(iter_wet_lines(_write(tmp_path, [b""])))


def test_lines_do_not_depend_on_gzip_member_boundaries(tmp_path, good):
    """The reference decompresses the whole file before splitting lines: records may share or split members."""
    raw = b"".join(gzip.decompress(m) for m in good)
    one = _write(tmp_path, [gzip.compress(raw)])
    split_mid_char = tmp_path / "split.warc.wet.gz"
    text = raw.replace(b"More text", "M\u00f6re text".encode())
    cut = text.index("\u00f6".encode()) + 1  # inside the two-byte character
    split_mid_char.write_bytes(gzip.compress(text[:cut]) + gzip.compress(text[cut:]))
    assert list(iter_wet_lines(one)) == list(iter_wet_lines(_write(tmp_path / "..", good)))
    assert any("M\u00f6re text" in line for line in iter_wet_lines(split_mid_char))


def _split_pages_line_by_line(lines, counters, require_timestamp=False):
    """The D3/D4 loop written plainly, one line at a time (the oracle for split_page_batches)."""
    from t5repro.c4.wet import METADATA_PREFIXES, PAGE_DELIMITER, Page

    captures = (("WARC-Target-URI:", "url"), ("WARC-Date:", "timestamp"), ("Content-Type:", "content_type"),
                ("Content-Length:", "content_length"))
    pages, state = [], None

    def finish():
        if state is None:
            return
        if not state["url"]:
            reason = "page-filtered-nourl"
        elif not state["content"]:
            reason = "page-filtered-nocontent"
        elif require_timestamp and not state["timestamp"]:
            reason = "page-filtered-notimestamp"
        else:
            counters["page-emitted"] += 1
            pages.append(Page(url=state["url"], text="\n".join(state["content"]), timestamp=state["timestamp"],
                              content_type=state["content_type"], content_length=state["content_length"]))
            return
        counters[reason] += 1

    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line == PAGE_DELIMITER:
            finish()
            state = {"url": "", "timestamp": "", "content_type": "", "content_length": "", "content": []}
        if state is None:
            raise WetFormatError("text before the first record")
        for prefix, name in captures:
            if line.startswith(prefix):
                state[name] = line[len(prefix):].strip()
        if not line.startswith(METADATA_PREFIXES):
            state["content"].append(line)
    finish()
    return pages


def test_batched_line_splitting_equals_the_line_loop():  # spec D3/D4 in batches (gzip members) of any size
    import random

    from t5repro.c4.wet import split_page_batches, split_newlines

    rng = random.Random(3)
    pieces = HEADER + ["Text here.", "  padded  ", "", " ", "\t", "WARC/1.0", " WARC/1.0 ", "WARC-Date:",
                       "WARC-Date: x", "WARC-Target-URI:  http://c.org/ ", "Content-Length:7", "Content-Type:", "CONTENT-x", "Content-",
                       "WARCish", "WARC-Target-URI-ish: v", "Content-Type-x: y", "\u2028", "\x1c", "caf\u00e9.", "a:b",
                       "WARC-Date:: two colons", "Contents", "W"]
    for _ in range(3000):
        lines = (["WARC/1.0"] if rng.random() < 0.9 else []) + [rng.choice(pieces) for _ in range(rng.randint(0, 30))]
        cuts = sorted(rng.sample(range(len(lines) + 1), rng.randint(0, min(4, len(lines) + 1))))
        batches = [lines[a:b] for a, b in zip([0] + cuts, cuts + [len(lines)])]
        want_c, got_c = Counter(), Counter()
        require_timestamp = rng.random() < 0.5
        try:
            want = _split_pages_line_by_line(lines, want_c, require_timestamp)
        except WetFormatError:
            with pytest.raises(WetFormatError):
                list(split_page_batches(batches, got_c, require_timestamp=require_timestamp))
            continue
        got = list(split_page_batches(batches, got_c, require_timestamp=require_timestamp))
        assert [(p.url, p.text, p.timestamp, p.content_type, p.content_length) for p in got] == \
            [(p.url, p.text, p.timestamp, p.content_type, p.content_length) for p in want], lines
        assert +got_c == +want_c
    for text in ["", "a", "a\r\nb", "a\rb\nc", "\r\r\n\n\r", "x\r", "\ny\r\n", "a\u2028b\x0bc\x1cd\x85e"]:
        assert split_newlines(text) == re.split(r"\r\n|\r|\n", text), repr(text)
