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
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

from t5repro import log as log_lib
from t5repro.c4 import partition as part_lib
from t5repro.c4.clean import CleanOptions, clean_page
from t5repro.c4.dedup import MIN_NUM_SENTENCES, line_key_bytes, normalize_url, window_keys
from t5repro.c4.resources import SentenceSplitter
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page, WetFormatError, read_wet_file

logger = logging.getLogger(__name__)

PAGES_FILE = "pages.jsonl.gz"
STATS_FILE = "stats.csv"
ORDER_SHIFT = 40  # pages per shard < 2^40
BATCH = 1024  # pages per language-detection batch (langdetect_fast reaches full speed at ~1,000)


# ---------------------------------------------------------------------------------------------- pages io
class PageWriter:
    """Pages (with their `order`) as gzip'd JSON lines; level 1: intermediate files are read once."""

    def __init__(self, path: Path):
        self.path = path
        self._raw = gzip.GzipFile(path, "wb", compresslevel=1, mtime=0)
        self._f = io.TextIOWrapper(self._raw, encoding="utf-8")
        self.n = 0

    def write(self, page: Page, order: int) -> None:
        rec = page.record()
        rec["order"] = order
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.n += 1

    def close(self) -> None:
        self._f.close()


def read_pages(path: Path) -> Iterator[tuple[Page, int]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                r = json.loads(line)
                yield Page(url=r["url"], text=r["text"], timestamp=r["timestamp"], content_type=r["content-type"],
                           content_length=r["content-length"]), int(r["order"])
            except (json.JSONDecodeError, KeyError) as e:
                raise ValueError(f"{path}:{i}: not a page record ({e})") from None


# ---------------------------------------------------------------------------------------------- stats
def _utf8(text: str) -> int:
    """UTF-8 size of a text; `isascii` is O(1) in CPython, so ASCII pages skip the encode."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


@dataclass
class StepStats:
    """Per-step counters of one shard (spec D24), written as long-format rows variant,shard,step,counter,value."""

    variant: str
    shard: int
    rows: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, step: str, counter: str, value: int = 1) -> None:
        self.rows[(step, counter)] = self.rows.get((step, counter), 0) + int(value)

    def page_in(self, step: str, page: Page) -> None:
        rows = self.rows
        rows[(step, "pages_in")] = rows.get((step, "pages_in"), 0) + 1
        rows[(step, "bytes_in")] = rows.get((step, "bytes_in"), 0) + _utf8(page.text)

    def page_out(self, step: str, page: Page) -> None:
        rows = self.rows
        rows[(step, "pages_out")] = rows.get((step, "pages_out"), 0) + 1
        rows[(step, "bytes_out")] = rows.get((step, "bytes_out"), 0) + _utf8(page.text)

    def drop(self, step: str, reason: str) -> None:
        self.add(step, f"dropped/{reason}")

    def open_step(self, step: str) -> None:
        """Make a step appear (with zero pages) even when no page reaches it."""
        for c in ("pages_in", "pages_out", "bytes_in", "bytes_out"):
            self.rows.setdefault((step, c), 0)

    def as_rows(self) -> list[dict]:
        return [{"variant": self.variant, "shard": self.shard, "step": s, "counter": c, "value": v}
                for (s, c), v in self.rows.items()]

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


def parse_shard(wet_files: Sequence[Path], out_dir: Path, opts: ParseOptions,
                domain_filter: Callable[[str], bool] | None = None, download_skipped: Sequence[dict] = ()) -> dict:
    """Pass 1: WET files -> pages.jsonl.gz (pages after D3-D5, D6) + URL keys; returns the skipped files
    (those the download already left out are listed too, with their reason)."""
    stats = StepStats(opts.variant, opts.shard)
    for step in ("parse", "length") + (("domain",) if domain_filter else ()):
        stats.open_step(step)
    skipped: list[dict] = [dict(s, stage="download") for s in download_skipped]
    if skipped:
        stats.add("parse", "wet_files_skipped_at_download", len(skipped))
    order = opts.shard << ORDER_SHIFT
    writer = PageWriter(out_dir / PAGES_FILE)
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
                stats.page_in("parse", page)
                stats.page_out("parse", page)
                stats.page_in("length", page)
                if len(page.text) > opts.max_page_chars:  # spec D5
                    stats.drop("length", "filtered-page-contenttoolong")
                    continue
                stats.page_out("length", page)
                if domain_filter is not None:  # spec D6, raw URL, before URL dedup
                    stats.page_in("domain", page)
                    url = normalize_url(page.url) if opts.domain_on_normalized_url else page.url
                    if not domain_filter(url):
                        stats.drop("domain", "filtered-url-not-realnews-domain")
                        continue
                    stats.page_out("domain", page)
                writer.write(page, order)
                ts = page.timestamp.encode("utf-8")
                if len(ts) > part_lib.TIMESTAMP_BYTES:  # compared whole in the resolve (partition.decide_url)
                    long_timestamps[str(order)] = page.timestamp
                keys.add((part_lib.md5(normalize_url(page.url)), ts[:part_lib.TIMESTAMP_BYTES], order))
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


def _dedup_url_id(page: Page, raw: bool) -> bytes:
    return part_lib.md5(page.url if raw else normalize_url(page.url))


def emit_dedup_keys(page: Page, opts: CleanPassOptions, sentences: SentenceSplitter,
                    add: Callable[[tuple], int]) -> None:
    """D12 step 1 / D13: one record per distinct key of the page, in order of first occurrence."""
    if opts.dedup == "line":
        seen: set[bytes] = set()
        url = _dedup_url_id(page, opts.url_id_raw)
        for line in page.text.split("\n"):
            k = line_key_bytes(line, opts.line_key_unicode)
            if k not in seen:
                seen.add(k)
                add((k, url))
    elif opts.dedup == "window":
        counts: dict[bytes, int] = {}
        for line in page.text.split("\n"):
            for _, _, key in window_keys(sentences(line)):
                counts[key] = counts.get(key, 0) + 1
        url = part_lib.md5(normalize_url(page.url))
        for key, c in counts.items():  # dicts keep first-occurrence order
            add((key, url, c))


def clean_shard(parse_dir: Path, url_parts: Sequence[Path], out_dir: Path, opts: CleanPassOptions,
                sentences: SentenceSplitter, clean_opts: CleanOptions | None,
                webtext_filter: Callable[[str], bool] | None = None) -> None:
    """Pass 2: keep URL winners (D7), D8, clean (D9-D11), emit dedup keys."""
    stats = StepStats(opts.variant, opts.shard)
    steps = ("url_dedup",) + (("webtext",) if webtext_filter else ()) + (("clean",) if opts.clean else ())
    for step in steps:
        stats.open_step(step)
    url_keys = part_lib.KeyFile(parse_dir / "urlkeys", part_lib.URL_DTYPE)
    decisions = part_lib.DecisionReader(url_parts, opts.shard, url_keys.bucket_counts(opts.num_buckets),
                                        opts.num_parts)
    line_counters: Counter = Counter()
    writer = PageWriter(out_dir / PAGES_FILE)
    key_dtype = part_lib.WINDOW_DTYPE if opts.dedup == "window" else part_lib.LINE_DTYPE
    with part_lib.KeyWriter(out_dir / "dedupkeys", key_dtype, opts.num_buckets) as keys:
        for page, order in log_lib.progress(read_pages(parse_dir / PAGES_FILE), desc=f"c4 clean shard {opts.shard}",
                                            unit="page"):
            stats.page_in("url_dedup", page)
            key = part_lib.md5(normalize_url(page.url))
            if not decisions.next(part_lib.bucket_of(key, opts.num_buckets)):
                stats.drop("url_dedup", "filtered-url-duplicate")
                continue
            stats.page_out("url_dedup", page)
            if webtext_filter is not None:  # spec D8
                stats.page_in("webtext", page)
                if not webtext_filter(normalize_url(page.url)):
                    stats.drop("webtext", "filtered-url-not-in-openwebtext")
                    continue
                stats.page_out("webtext", page)
            if opts.clean:
                stats.page_in("clean", page)
                out = clean_page(page, clean_opts, sentences, line_counters)
                if isinstance(out, Drop):
                    stats.drop("clean", out.reason)
                    continue
                page = out
                stats.page_out("clean", page)
            writer.write(page, order)
            if opts.dedup:
                emit_dedup_keys(page, opts, sentences, keys.add)
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
    decided: dict[bytes, int] = {}
    seen: set[bytes] = set()
    new_lines = []
    for line in page.text.split("\n"):
        k = line_key_bytes(line, opts.line_key_unicode)
        if k not in decided:
            decided[k] = next_decision(k)
        if not decided[k]:
            lines_out["filtered-lines-global_duplicate"] += 1
        elif k in seen and not opts.keep_local_duplicates:
            lines_out["filtered-lines-local_duplicate"] += 1
        else:
            lines_out["lines-kept"] += 1
            new_lines.append(line)
            seen.add(k)
    text = "\n".join(new_lines)
    if not text:
        return Drop("filtered-deduped_page-empty")
    if opts.min_num_sentences and not sentences.has_at_least(text, opts.min_num_sentences):
        return Drop("filtered-deduped_page-toofewsentences")
    return replace(page, text=text)


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
    return replace(page, text="\n".join(lines))


def is_validation(url: str, one_in: int = 1000) -> bool:
    """Spec D16: validation iff int(md5(normalised url)) % 1000 == 0."""
    return int.from_bytes(part_lib.md5(normalize_url(url)), "big") % one_in == 0


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

    def flush(batch: list[Page]) -> None:
        for page, top in zip(batch, detect([p.text for p in batch])):
            stats.page_in("langid", page)
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
            stats.page_out("langid", page)
            if opts.page_badwords is not None:  # spec D15, after language id
                stats.page_in("badwords", page)
                if isinstance(badword_page_filter(page, opts.page_badwords), Drop):
                    stats.drop("badwords", "filtered-page-badword")
                    continue
                stats.page_out("badwords", page)
            split = "validation" if is_validation(page.url, opts.validation_one_in) else "train"
            stats.page_in("split", page)
            stats.page_out("split", page)
            stats.add("split", f"pages_out/{split}")
            stats.add("split", f"bytes_out/{split}", _utf8(page.text))
            texts[(lang, split)].write(json.dumps(page.record(), ensure_ascii=False) + "\n")
            counts[f"{lang}.{split}"] += 1

    try:
        batch: list[Page] = []
        for page, _ in log_lib.progress(read_pages(clean_dir / PAGES_FILE), desc=f"c4 finish shard {opts.shard}",
                                        unit="page"):
            if reader is not None:
                stats.page_in("dedup", page)
                out = apply(page, opts, sentences,
                            lambda k: reader.next(part_lib.bucket_of(k, opts.num_buckets)), lines_out)
                if isinstance(out, Drop):
                    stats.drop("dedup", out.reason)
                    continue
                page = out
                stats.page_out("dedup", page)
            batch.append(page)
            if len(batch) >= BATCH:
                flush(batch)
                batch = []
        if batch:
            flush(batch)
    finally:
        for t in texts.values():
            t.close()
    if reader is not None:
        reader.finish()
    _counts_to_lines(stats, "dedup", lines_out)
    stats.write(out_dir / STATS_FILE)
    return dict(counts)
