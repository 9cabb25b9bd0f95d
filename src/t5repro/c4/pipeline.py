"""Stage `c4`: WET files -> cleaned, deduplicated C4 shards, stats and manifest (spec data.md §1, D3-D24).

The steps run in the order of spec D18 for `c4.mode` (paper | tfds220 | tfds310):
parse (D3-D4) -> length (D5) -> URL dedup (D7) -> clean (D9-D11) -> dedup (D12 paper, D13 tfds) ->
langdetect (D14) -> [tfds310: page bad words, D15] -> split (D16). With `c4.emit_multilingual`, pages after
URL dedup are also cleaned without bad words (D9/D10) and kept as de/fr/ro when langdetect says so with
prob >= threshold (D30). Everything is built in a temporary folder that replaces `io.c4_dir` only on success.

Deviations (see also the module docstrings): records always carry all five D17 fields, also in `paper` mode
(v1 had url and text only); a malformed WET file stops the job instead of being skipped (D2); RealNews and
WebText filters (D6, D8) are not implemented (the `en` variant only).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable

from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro import log as log_lib
from t5repro.c4 import badwords as badwords_lib
from t5repro.c4 import resources
from t5repro.c4.clean import CleanOptions, clean_page
from t5repro.c4.dedup import dedup_urls, line_dedup, normalize_url, window_dedup
from t5repro.c4.langid import language_filter, top_language
from t5repro.c4.stats import Drop, apply, check_conservation, inc
from t5repro.c4.wet import Page, read_wet_file

logger = logging.getLogger(__name__)

MODES = ("paper", "tfds220", "tfds310")
MULTILINGUAL = ("de", "fr", "ro")  # spec D30


@dataclass(frozen=True)
class Options:
    """Everything `build` needs, taken from the config once (below the CLI nothing reads a DictConfig)."""

    mode: str = "paper"
    max_page_chars: int = 190_000
    langdetect_threshold: float = 0.99
    num_shards: int = 2
    validation_one_in: int = 1000
    emit_multilingual: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise config_lib.ConfigError(f"c4.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.num_shards < 1 or self.validation_one_in < 1:
            raise config_lib.ConfigError("c4.num_shards and c4.validation_one_in must be >= 1")

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> "Options":
        c = cfg.c4
        return cls(mode=str(c.mode), max_page_chars=int(c.max_page_chars),
                   langdetect_threshold=float(c.langdetect_threshold), num_shards=int(c.num_shards),
                   validation_one_in=int(c.validation_one_in), emit_multilingual=bool(c.emit_multilingual))


@dataclass
class Result:
    """The outcome of a build: splits, multilingual pages and every counter."""

    train: list[Page] = field(default_factory=list)
    validation: list[Page] = field(default_factory=list)
    multilingual: dict[str, list[Page]] = field(default_factory=lambda: {k: [] for k in MULTILINGUAL})
    counters: Counter = field(default_factory=Counter)  # TFDS-named counters, English pipeline
    drops: Counter = field(default_factory=Counter)  # "<step>/<reason>" page drops
    pages: dict[str, int] = field(default_factory=dict)  # pages alive after each step
    languages: Counter = field(default_factory=Counter)  # langdetect top language at D14
    ml_counters: Counter = field(default_factory=Counter)  # multilingual branch (D30)
    bytes: dict[str, int] = field(default_factory=dict)


def _utf8_len(pages: Iterable[Page]) -> int:
    return sum(len(p.text.encode("utf-8")) for p in pages)


def is_validation(page: Page, one_in: int = 1000) -> bool:
    """Spec D16: validation iff int(md5(normalised url)) % 1000 == 0."""
    return int(hashlib.md5(normalize_url(page.url).encode("utf-8")).hexdigest(), 16) % one_in == 0


def shard_of(page: Page, num_shards: int) -> int:
    """Train shard of a page: a hash of its normalised URL independent of the D16 split hash."""
    return int(hashlib.sha1(("shard:" + normalize_url(page.url)).encode("utf-8")).hexdigest(), 16) % num_shards


def length_filter(page: Page, max_chars: int = 190_000) -> Page | Drop:
    """Spec D5: drop pages whose text has more than 190,000 characters (TFDS `is_valid_length`)."""
    return page if len(page.text) <= max_chars else Drop("filtered-page-contenttoolong")


def build(wet_files: list[Path], opts: Options, data_dir: str | Path) -> Result:
    """Spec D18 pipeline over the WET files (sorted by the caller); pure apart from reading inputs."""
    res = Result()
    c, drops = res.counters, res.drops
    sentences = resources.load_sentence_splitter(str(data_dir))
    words = resources.load_badwords(data_dir)
    tfds = opts.mode != "paper"

    # 1 parse (D3-D4)
    pages: list[Page] = []
    for path in log_lib.progress(wet_files, total=len(wet_files), desc="c4 parse", unit="file"):
        before = c.get("page-emitted", 0)
        pages += read_wet_file(path, c, require_timestamp=opts.mode == "tfds310")
        logger.debug("%s: %d pages", path.name, c.get("page-emitted", 0) - before)
    for reason in ("page-filtered-nourl", "page-filtered-nocontent", "page-filtered-notimestamp"):
        if c.get(reason):
            drops[f"parse/{reason}"] = c[reason]
    res.pages["parsed"] = len(pages)
    res.bytes["wet_gz_in"] = sum(p.stat().st_size for p in wet_files)
    res.bytes["text_in"] = _utf8_len(pages)

    # 2 length (D5)
    n = len(pages)
    pages = apply("length", pages, partial(length_filter, max_chars=opts.max_page_chars), c, drops)
    check_conservation("length", n, len(pages), drops)
    res.pages["length"] = len(pages)

    # 4 URL dedup (D7, newest timestamp in every mode)
    n = len(pages)
    pages, n_dup = dedup_urls(pages, c)
    drops["url_dedup/filtered-url-duplicate"] += n_dup
    check_conservation("url_dedup", n, len(pages), drops)
    res.pages["url_dedup"] = len(pages)

    if opts.emit_multilingual:  # D30 branch, from the same post-D7 pages
        _multilingual(pages, opts, sentences, res)

    # 7 clean (D9-D10, D11 inline for paper/tfds220; step b only in tfds modes)
    inline = badwords_lib.inline_regex(words) if opts.mode in ("paper", "tfds220") else None
    copts = CleanOptions(check_long_words=tfds, badwords_regex=inline)
    n = len(pages)
    pages = apply("clean", log_lib.progress(pages, total=n, desc="c4 clean", unit="page"),
                  partial(clean_page, opts=copts, sentences=sentences, counters=c), c, drops)
    check_conservation("clean", n, len(pages), drops)
    res.pages["clean"] = len(pages)

    # 8 dedup (D12 windows in paper, D13 lines in tfds modes)
    n = len(pages)
    if opts.mode == "paper":
        pages, dropped = window_dedup(pages, sentences, c)
    else:
        pages, dropped = line_dedup(pages, sentences, c, version="2.2.0" if opts.mode == "tfds220" else "3.1.0")
    for _, reason in dropped:
        inc(c, reason)
        inc(drops, f"dedup/{reason}")
    check_conservation("dedup", n, len(pages), drops)
    res.pages["dedup"] = len(pages)

    # 9 language (D14)
    n = len(pages)
    lang_counts: Counter = Counter()
    pages = apply("langid", log_lib.progress(pages, total=n, desc="c4 langdetect", unit="page"),
                  partial(language_filter, counters=lang_counts, threshold=opts.langdetect_threshold), c, drops)
    for k, v in lang_counts.items():
        if k.startswith("lang/"):
            res.languages[k[5:]] += v
        else:
            c[k] += v
    check_conservation("langid", n, len(pages), drops)
    res.pages["langid"] = len(pages)

    # 10 page-level bad words (D15, tfds310 only)
    if opts.mode == "tfds310":
        n = len(pages)
        regex = badwords_lib.page_regex(words, "en")
        pages = apply("badwords", pages, partial(badwords_lib.badword_page_filter, regex=regex), c, drops)
        check_conservation("badwords", n, len(pages), drops)
        res.pages["badwords"] = len(pages)

    # 11 split (D16)
    for page in pages:
        (res.validation if is_validation(page, opts.validation_one_in) else res.train).append(page)
    res.bytes["text_out_train"] = _utf8_len(res.train)
    res.bytes["text_out_validation"] = _utf8_len(res.validation)
    return res


def _multilingual(pages: list[Page], opts: Options, sentences, res: Result) -> None:
    """Spec D30: de/fr/ro pages, cleaned per D9/D10 without bad words, langdetect top prob >= threshold."""
    mc = res.ml_counters
    copts = CleanOptions(check_long_words=opts.mode != "paper", badwords_regex=None)
    for page in log_lib.progress(pages, total=len(pages), desc="c4 multilingual", unit="page"):
        out = clean_page(page, copts, sentences, mc)
        if isinstance(out, Drop):
            inc(mc, out.reason)
            continue
        top = top_language(out.text)
        if top is None:
            inc(mc, "langdetect-exception")
            continue
        lang, prob = top
        if lang in MULTILINGUAL and prob >= opts.langdetect_threshold:
            res.multilingual[lang].append(out)
            inc(mc, f"page-emited-{lang}")
        else:
            inc(mc, f"page-not-multilingual-{lang}" if prob >= opts.langdetect_threshold
                else "page-filtered-lowlangdetectconf")


# ---------------------------------------------------------------------------------------------- output
def _write_outputs(out: Path, res: Result, opts: Options, wet_files: list[Path], data_dir: str | Path,
                   elapsed: float) -> dict:
    """Shards, multilingual files, stats.json and manifest.json into the (temporary) output folder."""
    n = opts.num_shards
    shards: list[list[Page]] = [[] for _ in range(n)]
    for page in res.train:
        shards[shard_of(page, n)].append(page)
    for k, shard in enumerate(shards):
        io_lib.write_jsonl_gz(out / f"train-{k:05d}-of-{n:05d}.jsonl.gz", (p.record() for p in shard))
    io_lib.write_jsonl_gz(out / "validation-00000-of-00001.jsonl.gz", (p.record() for p in res.validation))
    if opts.emit_multilingual:
        for lang, ml_pages in res.multilingual.items():
            io_lib.write_jsonl_gz(out / "multilingual" / f"{lang}.jsonl.gz", (p.record() for p in ml_pages))

    splits = {name: {"documents": len(ps), "characters": sum(len(p.text) for p in ps)}
              for name, ps in (("train", res.train), ("validation", res.validation))}
    stats = {
        "mode": opts.mode,
        "counters": dict(sorted(res.counters.items())),
        "dropped_pages": dict(sorted(res.drops.items())),
        "pages_after_step": res.pages,
        "bytes": res.bytes,
        "languages": dict(res.languages.most_common()),
        "splits": splits,
        "train_shards": [len(s) for s in shards],
        "multilingual": {"pages": {k: len(v) for k, v in res.multilingual.items()},
                         "characters": {k: sum(len(p.text) for p in v) for k, v in res.multilingual.items()},
                         "counters": dict(sorted(res.ml_counters.items()))} if opts.emit_multilingual else None,
        "elapsed_s": round(elapsed, 2),
    }
    io_lib.write_json(out / "stats.json", stats)
    manifest = io_lib.run_metadata({
        "stage": "c4",
        "c4_mode": opts.mode,  # spec D24
        "options": opts.__dict__,
        "dumps": ["CC-MAIN-smoke (generated by stage wet)"],
        "wet_files": [{"name": p.name, "bytes": p.stat().st_size} for p in wet_files],
        "wet_file_count": len(wet_files),
        "skipped_corrupt_wet_files": [],
        "resources": resources.manifest(data_dir),
        "drop_counters": stats["counters"],
        "splits": splits,
    })
    io_lib.write_json(out / "manifest.json", manifest)
    return stats


def run(cfg: DictConfig) -> None:
    """Stage `c4`: io.wet_dir/**/*.warc.wet.gz -> io.c4_dir (atomically: a failure leaves no output folder).

    WET files are searched recursively: at paper scale io.wet_dir holds one folder per download shard.
    """
    wet_dir = config_lib.require_path(cfg, "io.wet_dir")
    c4_dir = config_lib.require_path(cfg, "io.c4_dir")
    data_dir = config_lib.require_path(cfg, "io.data_dir")
    opts = Options.from_cfg(cfg)
    wet_files = sorted(wet_dir.rglob("*.warc.wet.gz"))
    if not wet_files:
        raise FileNotFoundError(f"no *.warc.wet.gz files in {wet_dir} (io.wet_dir)")
    logger.info("c4 (%s mode): %d WET files from %s", opts.mode, len(wet_files), wet_dir)
    start = time.monotonic()
    res = build(wet_files, opts, data_dir)
    with io_lib.atomic_dir(c4_dir) as tmp:
        stats = _write_outputs(tmp, res, opts, wet_files, data_dir, time.monotonic() - start)
    s = stats["splits"]
    logger.info("c4 done in %.1f s: %d pages parsed -> %d train + %d validation (%.0f KB text); multilingual %s; "
                "dropped %s", time.monotonic() - start, res.pages["parsed"], s["train"]["documents"],
                s["validation"]["documents"], res.bytes["text_out_train"] / 1024,
                (stats["multilingual"] or {}).get("pages"), dict(sorted(res.drops.items())))
