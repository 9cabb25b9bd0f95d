"""The three per-shard passes of C4 (spec D18) around the two global resolves of `partition`.

    parse  (shard): WET -> pages (D3-D5, D6)                  + URL keys          -> resolve url
    clean  (shard): URL winners (D7), D8, clean (D9-D11)      + line/window keys  -> resolve dedup
    finish (shard): dedup (D12/D13), language (D14), D15, split (D16) -> the shard's output files

Each pass streams its pages (memory does not grow with the shard), writes into a folder that the caller
creates atomically, and records per-step statistics (`StepStats`, spec D24) in `stats.csv`. Pages carry
`order` (shard << 40 | index), the "first seen" order that D7's tie-break uses.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from t5repro import log as log_lib
from t5repro.c4 import partition as part_lib
from t5repro.c4.clean import CleanOptions, clean_page
from t5repro.c4.dedup import MIN_NUM_SENTENCES, line_keys_bytes, normalize_url, window_keys
from t5repro.c4.resources import SentenceSplitter
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page, WetFormatError, read_wet_file

logger = logging.getLogger(__name__)

PAGES_FILE = "pages.bin.gz"  # the pages between passes (PageWriter / read_pages)
STATS_FILE = "stats.csv"
ORDER_SHIFT = 40  # pages per shard < 2^40
BATCH = 1024  # pages per language-detection batch (langdetect_fast reaches full speed at ~1,000)


# ---------------------------------------------------------------------------------------------- pages io
_json_str = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False), the C version where available


def page_json(page: Page, order: int | None = None) -> str:
    """`json.dumps(rec, ensure_ascii=False)` of `page.record()` (+ `"order"`), byte for byte.

    Written by hand because it runs for every page in every pass: `json.dumps` builds an encoder per call (any
    non-default argument does), and the record dict first; here the five strings go through the same C string
    encoder that `json.dumps` uses, between the same keys and separators. Other field types go to `json.dumps`.
    """
    url, text, ts, ct, cl = page.url, page.text, page.timestamp, page.content_type, page.content_length
    if type(url) is str and type(text) is str and type(ts) is str and type(ct) is str and type(cl) is str:
        head = (f'{{"url": {_json_str(url)}, "text": {_json_str(text)}, "timestamp": {_json_str(ts)}, '
                f'"content-type": {_json_str(ct)}, "content-length": {_json_str(cl)}')
        if order is None:
            return head + "}"
        if type(order) is int:
            return f'{head}, "order": {order}}}'
    rec = page.record()
    if order is not None:
        rec["order"] = order
    return json.dumps(rec, ensure_ascii=False)


# The pages between two passes of a shard: internal files, written once and read once by the next pass. Not JSON
# (the output format): JSON's escaping and parsing of every page text, twice per page, cost as much as their
# compression. A file is gzip (`PAGES_LEVEL` by default) of the magic line, then per page a header -- `order` (int64), the
# page's URL key (16 bytes: md5 of the normalised URL, computed once in the parse pass and used by D7 and D16),
# the UTF-8 sizes of url, text, timestamp, content-type, content-length (uint32 each), little-endian -- and
# those five UTF-8 strings.
PAGES_MAGIC = b"t5repro c4 pages v2\n"
# gzip level of the page files: 1 (they are read once) where the work folder persists (the DAG's jobs, where a
# dump's pages would otherwise fill ~4x the disk); the one-process build in a temporary folder stores them (0).
PAGES_LEVEL = 1
_PAGE_HEADER = struct.Struct("<q16s5I")
_WRITE_CHUNK = 1 << 20  # bytes handed to gzip at a time
_READ_CHUNK = 1 << 20


class PageWriter:
    """Pages (with their `order` and URL key) in the intermediate format above, gzip at `level`."""

    def __init__(self, path: Path, level: int = PAGES_LEVEL):
        self.path = path
        self._raw = gzip.GzipFile(path, "wb", compresslevel=level, mtime=0)
        self._raw.write(PAGES_MAGIC)
        self._parts: list[bytes] = []
        self._size = 0
        self.n = 0

    def write(self, page: Page, order: int, url_key: bytes) -> None:
        fields = (page.url.encode("utf-8"), page.text.encode("utf-8"), page.timestamp.encode("utf-8"),
                  page.content_type.encode("utf-8"), page.content_length.encode("utf-8"))
        head = _PAGE_HEADER.pack(order, url_key, *map(len, fields))
        self._parts.append(head)
        self._parts.extend(fields)
        self._size += len(head) + len(fields[0]) + len(fields[1]) + len(fields[2]) + len(fields[3]) + len(fields[4])
        self.n += 1
        if self._size >= _WRITE_CHUNK:
            self._flush()

    def _flush(self) -> None:
        self._raw.write(b"".join(self._parts))
        self._parts, self._size = [], 0

    def close(self) -> None:
        self._flush()
        self._raw.close()


def read_pages(path: Path) -> Iterator[tuple[Page, int, bytes]]:
    """The (page, order, url key) records of a PageWriter file, streamed; a file that is not one, or is truncated or
    corrupt, raises ValueError naming the file (and the record)."""
    hs = _PAGE_HEADER.size
    unpack = _PAGE_HEADER.unpack_from
    i = 0
    try:
        with gzip.open(path, "rb") as f:
            if f.read(len(PAGES_MAGIC)) != PAGES_MAGIC:
                raise ValueError(f"{path}: not a c4 page file (no {PAGES_MAGIC!r} header)")
            data, pos, eof = b"", 0, False
            while True:
                if pos + hs <= len(data):
                    order, url_key, a, b, c, d, e = unpack(data, pos)
                    end = pos + hs + a + b + c + d + e
                    if end <= len(data):
                        q = pos + hs
                        try:
                            page = Page(data[q:q + a].decode("utf-8"), data[q + a:q + a + b].decode("utf-8"),
                                        data[q + a + b:q + a + b + c].decode("utf-8"),
                                        data[q + a + b + c:end - e].decode("utf-8"), data[end - e:end].decode("utf-8"))
                        except UnicodeDecodeError as err:
                            raise ValueError(f"{path}: page record {i}: not utf-8 ({err})") from None
                        yield page, order, url_key
                        i += 1
                        pos = end
                        continue
                if eof:
                    if pos < len(data):
                        raise ValueError(f"{path}: page record {i} truncated ({len(data) - pos} bytes at the end)")
                    return
                chunk = f.read(_READ_CHUNK)
                eof = not chunk
                data, pos = data[pos:] + chunk, 0
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated page file after {i} records ({err})") from None


# ---------------------------------------------------------------------------------------------- stats
def _utf8(text: str) -> int:
    """UTF-8 size of a text; `isascii` is O(1) in CPython, so ASCII pages skip the encode."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class StepCounts:
    """The page and byte counts of one step; hot loops update the attributes directly."""

    __slots__ = ("pages_in", "bytes_in", "pages_out", "bytes_out")

    def __init__(self) -> None:
        self.pages_in = self.bytes_in = self.pages_out = self.bytes_out = 0


@dataclass
class StepStats:
    """Per-step counters of one shard (spec D24), written as long-format rows variant,shard,step,counter,value.

    `page_in`/`page_out` take the page's UTF-8 size when the caller has it (a page passes several steps
    unchanged: its size is computed once); `counts(step)` gives a loop the step's page and byte counters.
    """

    variant: str
    shard: int
    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    steps: dict[str, StepCounts] = field(default_factory=dict)

    def add(self, step: str, counter: str, value: int = 1) -> None:
        self.rows[(step, counter)] = self.rows.get((step, counter), 0) + int(value)

    def counts(self, step: str) -> StepCounts:
        c = self.steps.get(step)
        if c is None:
            self.open_step(step)
            c = self.steps[step] = StepCounts()
        return c

    def page_in(self, step: str, page: Page, nbytes: int | None = None) -> None:
        c = self.counts(step)
        c.pages_in += 1
        c.bytes_in += _utf8(page.text) if nbytes is None else nbytes

    def page_out(self, step: str, page: Page, nbytes: int | None = None) -> None:
        c = self.counts(step)
        c.pages_out += 1
        c.bytes_out += _utf8(page.text) if nbytes is None else nbytes

    def drop(self, step: str, reason: str) -> None:
        self.add(step, f"dropped/{reason}")

    def open_step(self, step: str) -> None:
        """Make a step appear (with zero pages) even when no page reaches it."""
        for c in ("pages_in", "pages_out", "bytes_in", "bytes_out"):
            self.rows.setdefault((step, c), 0)

    def totals(self) -> dict[tuple[str, str], int]:
        """Every counter: `rows` plus the step counts."""
        out = dict(self.rows)
        for step, c in self.steps.items():
            for name in ("pages_in", "pages_out", "bytes_in", "bytes_out"):
                out[(step, name)] = out.get((step, name), 0) + getattr(c, name)
        return out

    def as_rows(self) -> list[dict]:
        return [{"variant": self.variant, "shard": self.shard, "step": s, "counter": c, "value": v}
                for (s, c), v in self.totals().items()]

    def write(self, path: Path) -> None:
        from t5repro.c4 import stats_csv

        stats_csv.write_rows(path, self.as_rows())


def _counts_to_lines(stats: StepStats, step: str, counters: Counter) -> None:
    for name, v in sorted(counters.items()):
        stats.add(step, f"lines/{name}", v)


# ---------------------------------------------------------------------------------------------- pass 1
@dataclass(frozen=True)
class ParseOptions:
    variant: str
    shard: int
    max_page_chars: int = 190_000
    require_timestamp: bool = False
    num_buckets: int = 2
    on_bad_wet: str = "skip"  # spec D2: a corrupt file is reported and skipped, never partially used
    max_bad_wet_fraction: float = 0.05
    known_corrupt: frozenset[str] = frozenset()
    domain_on_normalized_url: bool = False  # D6/D18: the raw URL in paper/tfds220, the normalised one in tfds310
    pages_level: int = PAGES_LEVEL  # gzip level of pages.bin.gz


def parse_shard(wet_files: Sequence[Path], out_dir: Path, opts: ParseOptions,
                domain_filter: Callable[[str], bool] | None = None, download_skipped: Sequence[dict] = ()) -> dict:
    """Pass 1: WET files -> pages.bin.gz (pages after D3-D5, D6) + URL keys; returns the skipped files
    (those the download already left out are listed too, with their reason)."""
    stats = StepStats(opts.variant, opts.shard)
    for step in ("parse", "length") + (("domain",) if domain_filter else ()):
        stats.open_step(step)
    c_parse, c_length = stats.counts("parse"), stats.counts("length")
    skipped: list[dict] = [dict(s, stage="download") for s in download_skipped]
    if skipped:
        stats.add("parse", "wet_files_skipped_at_download", len(skipped))
    order = opts.shard << ORDER_SHIFT
    writer = PageWriter(out_dir / PAGES_FILE, opts.pages_level)
    long_timestamps: dict[str, str] = {}
    with part_lib.KeyWriter(out_dir / "urlkeys", part_lib.URL_DTYPE, opts.num_buckets) as keys:
        for path in log_lib.progress(wet_files, total=len(wet_files), desc=f"c4 parse shard {opts.shard}",
                                     unit="file"):
            stats.add("parse", "wet_files")
            stats.add("parse", "wet_gz_bytes", path.stat().st_size)
            if path.name in opts.known_corrupt:
                skipped.append({"file": str(path), "reason": "known corrupt (TFDS _KNOWN_CORRUPT_WET_FILES)"})
                stats.add("parse", "wet_files_skipped")
                logger.warning("%s: skipped, on the known-corrupt list (spec D2)", path)
                continue
            counters: Counter = Counter()
            try:  # the whole file or nothing (D2): read it completely before using any page
                pages = list(read_wet_file(path, counters, require_timestamp=opts.require_timestamp))
            except (WetFormatError, UnicodeDecodeError) as e:
                if opts.on_bad_wet == "error":
                    raise
                skipped.append({"file": str(path), "reason": str(e)})
                stats.add("parse", "wet_files_skipped")
                logger.warning("skipped corrupt WET file (spec D2; c4.on_bad_wet=skip): %s", e)
                continue
            if counters.get("wet-records", 0) <= 1 and not pages:
                stats.add("parse", "wet_files_without_conversion_records")
                logger.warning("%s: no conversion records (only %d WARC record(s)); 0 pages", path,
                               counters.get("wet-records", 0))
            stats.add("parse", "wet_records", counters.get("wet-records", 0))
            if counters.get("wet-records-bad-framing"):
                stats.add("parse", "wet_records_bad_framing", counters["wet-records-bad-framing"])
            for reason in ("page-filtered-nourl", "page-filtered-nocontent", "page-filtered-notimestamp"):
                if counters.get(reason):
                    stats.add("parse", "pages_in", counters[reason])
                    stats.add("parse", f"dropped/{reason}", counters[reason])
            for page in pages:
                nbytes = _utf8(page.text)
                c_parse.pages_in += 1
                c_parse.bytes_in += nbytes
                c_parse.pages_out += 1
                c_parse.bytes_out += nbytes
                c_length.pages_in += 1
                c_length.bytes_in += nbytes
                if len(page.text) > opts.max_page_chars:  # spec D5
                    stats.drop("length", "filtered-page-contenttoolong")
                    continue
                c_length.pages_out += 1
                c_length.bytes_out += nbytes
                if domain_filter is not None:  # spec D6, raw URL, before URL dedup
                    stats.page_in("domain", page, nbytes)
                    url = normalize_url(page.url) if opts.domain_on_normalized_url else page.url
                    if not domain_filter(url):
                        stats.drop("domain", "filtered-url-not-realnews-domain")
                        continue
                    stats.page_out("domain", page, nbytes)
                url_key = part_lib.md5(normalize_url(page.url))
                writer.write(page, order, url_key)
                ts = page.timestamp.encode("utf-8")
                if len(ts) > part_lib.TIMESTAMP_BYTES:  # compared whole in the resolve (partition.decide_url)
                    long_timestamps[str(order)] = page.timestamp
                keys.add((url_key, ts[:part_lib.TIMESTAMP_BYTES], order))
                order += 1
    writer.close()
    (out_dir / "urlkeys" / part_lib.LONG_TIMESTAMPS_FILE).write_text(json.dumps(long_timestamps, ensure_ascii=False))
    n_files = len(wet_files)
    n_bad = sum(1 for s in skipped if not s["reason"].startswith("known corrupt") and "stage" not in s)
    if n_files and n_bad / n_files > opts.max_bad_wet_fraction:
        raise WetFormatError(f"{n_bad} of {n_files} WET files of shard {opts.shard} are corrupt (more than "
                             f"c4.max_bad_wet_fraction={opts.max_bad_wet_fraction}): " +
                             "; ".join(s["reason"] for s in skipped[:3]))
    stats.write(out_dir / STATS_FILE)
    (out_dir / "skipped_wet_files.json").write_text(json.dumps(skipped, indent=1) + "\n")
    return {"skipped": skipped, "pages": writer.n}


# ---------------------------------------------------------------------------------------------- pass 2
@dataclass(frozen=True)
class CleanPassOptions:
    variant: str
    shard: int
    clean: bool = True
    check_long_words: bool = False  # D9 b (tfds modes)
    dedup: str | None = "window"  # window (D12) | line (D13) | None
    line_key_unicode: bool = True  # D13: Unicode lower from 2.3.1; ASCII-only in 2.2.0
    url_id_raw: bool = True  # D13: the page id is the raw URL in 3.1, the normalised URL in 2.x
    num_buckets: int = 2
    num_parts: int = 1
    pages_level: int = PAGES_LEVEL  # gzip level of pages.bin.gz


def _dedup_url_id(page: Page, raw: bool) -> bytes:
    return part_lib.md5(page.url if raw else normalize_url(page.url))


def emit_dedup_keys(page: Page, opts: CleanPassOptions, sentences: SentenceSplitter,
                    keys: part_lib.KeyWriter, url_key: bytes | None = None) -> None:
    """D12 step 1 / D13: one record per distinct key of the page, in order of first occurrence (url_key: the
    page's md5 of the normalised URL, if the caller has it)."""
    if opts.dedup == "line":
        url = url_key if url_key is not None and not opts.url_id_raw else _dedup_url_id(page, opts.url_id_raw)
        distinct = dict.fromkeys(line_keys_bytes(page.text.split("\n"), opts.line_key_unicode))  # in order
        keys.add_keys(list(distinct), (url,))
    elif opts.dedup == "window":
        counts: dict[bytes, int] = {}
        for line in page.text.split("\n"):
            for _, _, key in window_keys(sentences(line)):
                counts[key] = counts.get(key, 0) + 1
        url = url_key if url_key is not None else part_lib.md5(normalize_url(page.url))
        for key, c in counts.items():  # dicts keep first-occurrence order
            keys.add((key, url, c))


def clean_shard(parse_dir: Path, url_parts: Sequence[Path], out_dir: Path, opts: CleanPassOptions,
                sentences: SentenceSplitter, clean_opts: CleanOptions | None,
                webtext_filter: Callable[[str], bool] | None = None) -> None:
    """Pass 2: keep URL winners (D7), D8, clean (D9-D11), emit dedup keys."""
    stats = StepStats(opts.variant, opts.shard)
    steps = ("url_dedup",) + (("webtext",) if webtext_filter else ()) + (("clean",) if opts.clean else ())
    for step in steps:
        stats.open_step(step)
    c_url = stats.counts("url_dedup")
    url_keys = part_lib.KeyFile(parse_dir / "urlkeys", part_lib.URL_DTYPE)
    decisions = part_lib.DecisionReader(url_parts, opts.shard, url_keys.bucket_counts(opts.num_buckets),
                                        opts.num_parts)
    line_counters: Counter = Counter()
    writer = PageWriter(out_dir / PAGES_FILE, opts.pages_level)
    key_dtype = part_lib.WINDOW_DTYPE if opts.dedup == "window" else part_lib.LINE_DTYPE
    with part_lib.KeyWriter(out_dir / "dedupkeys", key_dtype, opts.num_buckets) as keys:
        for page, order, url_key in log_lib.progress(read_pages(parse_dir / PAGES_FILE),
                                                     desc=f"c4 clean shard {opts.shard}", unit="page"):
            nbytes = _utf8(page.text)
            c_url.pages_in += 1
            c_url.bytes_in += nbytes
            if not decisions.next_key(url_key):
                stats.drop("url_dedup", "filtered-url-duplicate")
                continue
            c_url.pages_out += 1
            c_url.bytes_out += nbytes
            if webtext_filter is not None:  # spec D8
                stats.page_in("webtext", page, nbytes)
                if not webtext_filter(normalize_url(page.url)):
                    stats.drop("webtext", "filtered-url-not-in-openwebtext")
                    continue
                stats.page_out("webtext", page, nbytes)
            if opts.clean:
                stats.page_in("clean", page, nbytes)
                out = clean_page(page, clean_opts, sentences, line_counters)
                if isinstance(out, Drop):
                    stats.drop("clean", out.reason)
                    continue
                page = out
                stats.page_out("clean", page)
            writer.write(page, order, url_key)
            if opts.dedup:
                emit_dedup_keys(page, opts, sentences, keys, url_key)
    writer.close()
    decisions.finish()
    _counts_to_lines(stats, "clean", line_counters)
    stats.write(out_dir / STATS_FILE)


# ---------------------------------------------------------------------------------------------- pass 3
@dataclass(frozen=True)
class FinishOptions:
    variant: str
    shard: int
    dedup: str | None = "window"
    line_key_unicode: bool = True
    keep_local_duplicates: bool = False  # D13: 2.2.0 keeps every occurrence in the winning page
    min_num_sentences: int = MIN_NUM_SENTENCES
    languages: tuple[str, ...] = ("en",)
    langdetect_threshold: float = 0.99
    page_badwords: object | None = None  # compiled D15 regex (tfds310)
    validation_one_in: int = 1000
    num_buckets: int = 2
    num_parts: int = 1


def apply_line_dedup(page: Page, opts: FinishOptions, sentences: SentenceSplitter,
                     next_decision: Callable[[bytes], int], lines_out: Counter) -> Page | Drop:
    """D13: keep a line iff this page won its key (first occurrence only from 2.3.0); text not re-stripped."""
    lines = page.text.split("\n")
    keys = line_keys_bytes(lines, opts.line_key_unicode)
    decided = dict.fromkeys(keys)  # the distinct keys in order of first occurrence, as emit_dedup_keys added them
    for k in decided:
        decided[k] = next_decision(k)
    seen: set[bytes] = set()
    new_lines = []
    n_global = n_local = 0
    for line, k in zip(lines, keys):
        if not decided[k]:
            n_global += 1
        elif k in seen and not opts.keep_local_duplicates:
            n_local += 1
        else:
            new_lines.append(line)
            seen.add(k)
    for name, n in (("filtered-lines-global_duplicate", n_global), ("filtered-lines-local_duplicate", n_local),
                    ("lines-kept", len(new_lines))):
        if n:
            lines_out[name] += n
    text = "\n".join(new_lines)
    if not text:
        return Drop("filtered-deduped_page-empty")
    if opts.min_num_sentences and not sentences.has_at_least(text, opts.min_num_sentences):
        return Drop("filtered-deduped_page-toofewsentences")
    return page.with_text(text)


def apply_window_dedup(page: Page, opts: FinishOptions, sentences: SentenceSplitter,
                       next_decision: Callable[[bytes], int], lines_out: Counter) -> Page | Drop:
    """D12 steps 3-4: delete the sentences of removed windows, rebuild lines; >= 3 sentences must remain."""
    per_line = [sentences(line) for line in page.text.split("\n")]
    keys_per_line = [window_keys(sents) for sents in per_line]
    removal: set[bytes] = set()
    decided: set[bytes] = set()
    for keys in keys_per_line:  # replay the emission order of emit_dedup_keys
        for _, _, key in keys:
            if key not in decided:
                decided.add(key)
                if next_decision(key):
                    removal.add(key)
    lines: list[str] = []
    total = 0
    for sents, keys in zip(per_line, keys_per_line):
        marked: set[int] = set()
        for i, w, key in keys:
            if key in removal:
                marked.update(range(i, i + w))
        keep = [s for j, s in enumerate(sents) if j not in marked]
        if marked:
            lines_out["filtered-sentences-duplicate"] += len(marked)
        if not keep:
            lines_out["filtered-lines-duplicate"] += 1
            continue
        lines.append(" ".join(keep))
        total += len(keep)
    if total < opts.min_num_sentences:
        return Drop("filtered-deduped_page-toofewsentences")
    return page.with_text("\n".join(lines))


def is_validation(url: str, one_in: int = 1000) -> bool:
    """Spec D16: validation iff int(md5(normalised url)) % 1000 == 0."""
    return is_validation_key(part_lib.md5(normalize_url(url)), one_in)


def is_validation_key(url_key: bytes, one_in: int = 1000) -> bool:
    """`is_validation` from the URL's key, md5(normalised url)."""
    return int.from_bytes(url_key, "big") % one_in == 0


def finish_shard(clean_dir: Path, dedup_parts: Sequence[Path] | None, out_dir: Path, opts: FinishOptions,
                 sentences: SentenceSplitter, detect: Callable[[list[str]], list[tuple[str, float] | None]]
                 ) -> dict[str, int]:
    """Pass 3: dedup decisions (D12/D13), language (D14), page bad words (D15), split (D16) -> output files.

    Output: `<split>.jsonl.gz` (one language) or `<lang>.<split>.jsonl.gz` (several). `detect` maps a batch
    of texts to langdetect's top (language, probability) or None.
    """
    from t5repro.c4.badwords import badword_page_filter

    stats = StepStats(opts.variant, opts.shard)
    steps = (("dedup",) if opts.dedup else ()) + ("langid",) + (("badwords",) if opts.page_badwords else ()) + \
        ("split",)
    for step in steps:
        stats.open_step(step)
    c_lang, c_split = stats.counts("langid"), stats.counts("split")
    c_bad = stats.counts("badwords") if opts.page_badwords else None
    split_pages = {"train": 0, "validation": 0}  # -> split/pages_out/<split>, split/bytes_out/<split>
    split_bytes = {"train": 0, "validation": 0}
    reader = None
    if opts.dedup:
        keys = part_lib.KeyFile(clean_dir / "dedupkeys",
                                part_lib.WINDOW_DTYPE if opts.dedup == "window" else part_lib.LINE_DTYPE)
        reader = part_lib.DecisionReader(dedup_parts, opts.shard, keys.bucket_counts(opts.num_buckets), opts.num_parts)
    apply = apply_window_dedup if opts.dedup == "window" else apply_line_dedup
    lines_out: Counter = Counter()
    multi = len(opts.languages) > 1
    names = {(lang, split): (f"{lang}.{split}" if multi else split) + ".jsonl.gz"
             for lang in opts.languages for split in ("train", "validation")}
    files = {k: gzip.GzipFile(out_dir / v, "wb", compresslevel=6, mtime=0) for k, v in names.items()}
    texts = {k: io.TextIOWrapper(f, encoding="utf-8") for k, f in files.items()}
    counts = Counter()

    def flush(batch: list[Page], url_keys: list[bytes]) -> None:
        for page, url_key, top in zip(batch, url_keys, detect([p.text for p in batch])):
            nbytes = _utf8(page.text)
            c_lang.pages_in += 1
            c_lang.bytes_in += nbytes
            if top is None:
                stats.drop("langid", "langdetect-exception")
                continue
            lang, prob = top
            stats.add("langid", f"lang/{lang}")
            if prob < opts.langdetect_threshold:
                stats.drop("langid", "page-filtered-lowlangdetectconf")
                continue
            if lang not in opts.languages:
                stats.drop("langid", "page-filtered-ignoredlang")
                continue
            c_lang.pages_out += 1
            c_lang.bytes_out += nbytes
            if opts.page_badwords is not None:  # spec D15, after language id
                c_bad.pages_in += 1
                c_bad.bytes_in += nbytes
                if isinstance(badword_page_filter(page, opts.page_badwords), Drop):
                    stats.drop("badwords", "filtered-page-badword")
                    continue
                c_bad.pages_out += 1
                c_bad.bytes_out += nbytes
            split = "validation" if is_validation_key(url_key, opts.validation_one_in) else "train"
            c_split.pages_in += 1
            c_split.bytes_in += nbytes
            c_split.pages_out += 1
            c_split.bytes_out += nbytes
            split_pages[split] += 1
            split_bytes[split] += nbytes
            texts[(lang, split)].write(page_json(page) + "\n")
            counts[f"{lang}.{split}"] += 1

    try:
        batch: list[Page] = []
        url_keys: list[bytes] = []
        for page, _, url_key in log_lib.progress(read_pages(clean_dir / PAGES_FILE),
                                                 desc=f"c4 finish shard {opts.shard}", unit="page"):
            if reader is not None:
                stats.page_in("dedup", page)
                out = apply(page, opts, sentences, reader.next_key, lines_out)
                if isinstance(out, Drop):
                    stats.drop("dedup", out.reason)
                    continue
                page = out
                stats.page_out("dedup", page)
            batch.append(page)
            url_keys.append(url_key)
            if len(batch) >= BATCH:
                flush(batch, url_keys)
                batch, url_keys = [], []
        if batch:
            flush(batch, url_keys)
    finally:
        for t in texts.values():
            t.close()
    if reader is not None:
        reader.finish()
    for split in ("train", "validation"):
        if split_pages[split]:
            stats.add("split", f"pages_out/{split}", split_pages[split])
            stats.add("split", f"bytes_out/{split}", split_bytes[split])
    _counts_to_lines(stats, "dedup", lines_out)
    stats.write(out_dir / STATS_FILE)
    return dict(counts)
