"""C4 and its variants (spec data.md §1, D1-D24): the stages that turn WET files into C4 shards.

The build is sharded so that a whole Common Crawl dump runs as independent jobs (docs/architecture.md):

    c4-parse  shard s     WET files -> pages + URL keys           (shard.parse_shard)
    c4-resolve url part p  newest page per normalised URL         (partition.resolve_part)
    c4-clean  shard s     URL winners, D8, clean + dedup keys      (shard.clean_shard)
    c4-resolve dedup p    which page keeps each line / window      (partition.resolve_part)
    c4-finish shard s     dedup, language, bad words, split        (shard.finish_shard)
    c4-merge              the variant's folder: shards, stats.csv, stats.json, manifest.json

Snakemake runs each as a job (workflow/rules/c4.smk); `t5repro c4` runs them all in one process (a laptop, a
single WET file, the tests), with the same code. Work folders live under io.c4_work; every job writes its
folder atomically. Steps run in the order of spec D18 for `c4.mode` (paper | tfds220 | tfds310).

Variants (D1/D19): `en` (C4), `en.noclean` (length, URL dedup, language only), `realnewslike` (+ D6 before
URL dedup), `webtextlike` (+ D8 after it; 12 dumps at paper scale) and `multilingual` (the de/fr/ro pages of
D30 for the vocabulary: cleaned without bad words, line-deduplicated (D13), langdetect top language de/fr/ro).

Bad input (D2): a WET file that is truncated, not gzip, not WARC (wrong Content-Length, bad header), not
UTF-8 or empty is reported, listed in the manifest and skipped whole (`c4.on_bad_wet=skip`, the default);
more than `c4.max_bad_wet_fraction` of a shard's files failing stops the job, since that is a broken
download rather than Common Crawl's rare corrupt file. `c4.on_bad_wet=error` stops at the first one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro.c4 import badwords as badwords_lib
from t5repro.c4 import langid
from t5repro.c4 import partition as part_lib
from t5repro.c4 import resources
from t5repro.c4 import shard as shard_lib
from t5repro.c4.clean import CleanOptions
from t5repro.c4.wet import Page

logger = logging.getLogger(__name__)

MODES = ("paper", "tfds220", "tfds310")
VARIANTS = ("en", "en.noclean", "realnewslike", "webtextlike", "multilingual")
MULTILINGUAL = ("de", "fr", "ro")  # spec D30
KNOWN_CORRUPT = Path(__file__).resolve().parent / "known_corrupt_wet_files.txt"


def known_corrupt_names() -> frozenset[str]:
    """Spec D2: TFDS-c4 `_KNOWN_CORRUPT_WET_FILES` (carried as data), as file names."""
    lines = [s.strip() for s in KNOWN_CORRUPT.read_text(encoding="utf-8").splitlines()]
    return frozenset(Path(s).name for s in lines if s and not s.startswith("#"))


@dataclass(frozen=True)
class Options:
    """Everything the C4 passes need, taken from the config once (below the CLI nothing reads a DictConfig)."""

    mode: str = "paper"
    variant: str = "en"
    max_page_chars: int = 190_000
    langdetect_threshold: float = 0.99
    validation_one_in: int = 1000
    num_buckets: int = 4
    resolve_parts: int = 2
    on_bad_wet: str = "skip"
    max_bad_wet_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise config_lib.ConfigError(f"c4.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.variant not in VARIANTS:
            raise config_lib.ConfigError(f"c4.variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.on_bad_wet not in ("skip", "error"):
            raise config_lib.ConfigError(f"c4.on_bad_wet must be skip or error, got {self.on_bad_wet!r}")
        for key in ("validation_one_in", "num_buckets", "resolve_parts"):
            if getattr(self, key) < 1:
                raise config_lib.ConfigError(f"c4.{key} must be >= 1, got {getattr(self, key)}")
        if self.resolve_parts > self.num_buckets:
            raise config_lib.ConfigError(f"c4.resolve_parts ({self.resolve_parts}) must be <= c4.num_buckets "
                                         f"({self.num_buckets})")

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> "Options":
        c = cfg.c4
        return cls(mode=str(c.mode), variant=str(c.variant), max_page_chars=int(c.max_page_chars),
                   langdetect_threshold=float(c.langdetect_threshold), validation_one_in=int(c.validation_one_in),
                   num_buckets=int(c.num_buckets), resolve_parts=int(c.resolve_parts), on_bad_wet=str(c.on_bad_wet),
                   max_bad_wet_fraction=float(c.max_bad_wet_fraction))

    # what the variant and mode switch on (D1, D18)
    @property
    def clean(self) -> bool:
        return self.variant != "en.noclean"

    @property
    def dedup(self) -> str | None:
        if self.variant == "en.noclean":
            return None  # D19: "no heuristic filtering, no dedup"
        if self.variant == "multilingual":
            return "line"  # D30: de/fr/ro pages SHOULD get D9/D10/D13 cleaning, in every mode
        return "window" if self.mode == "paper" else "line"

    @property
    def line_dedup_v3(self) -> bool:
        """D13 semantics: 3.x (Unicode lower-casing, raw-URL page id, first occurrence only) or 2.2.0."""
        return self.mode == "tfds310" or (self.mode == "paper" and self.variant == "multilingual")

    @property
    def languages(self) -> tuple[str, ...]:
        return MULTILINGUAL if self.variant == "multilingual" else ("en",)

    @property
    def inline_badwords(self) -> bool:
        return self.clean and self.variant != "multilingual" and self.mode in ("paper", "tfds220")

    @property
    def page_badwords(self) -> bool:
        return self.variant != "multilingual" and self.variant != "en.noclean" and self.mode == "tfds310"


@dataclass
class Inputs:
    """The external inputs of a variant: offline resources and the variant's lists (D6, D8)."""

    data_dir: Path
    realnews_domains: Path | None = None
    openwebtext: Path | None = None


def _sentences(inputs: Inputs):
    return resources.load_sentence_splitter(str(inputs.data_dir))


def _domain_filter(opts: Options, inputs: Inputs) -> Callable[[str], bool] | None:
    if opts.variant != "realnewslike":
        return None
    from t5repro.c4 import realnews

    if inputs.realnews_domains is None:
        raise config_lib.ConfigError("c4.variant=realnewslike needs io.realnews_domains (grover's "
                                     "domain_to_allowed_subdomains.json)")
    return realnews.RealNewsFilter(realnews.load_domains(inputs.realnews_domains))


def _webtext_filter(opts: Options, inputs: Inputs) -> Callable[[str], bool] | None:
    if opts.variant != "webtextlike":
        return None
    from t5repro.c4 import webtext

    if inputs.openwebtext is None:
        raise config_lib.ConfigError("c4.variant=webtextlike needs io.openwebtext (OpenWebText URL lists)")
    urls = webtext.load_openwebtext_digests(inputs.openwebtext)  # 16 bytes a URL: ~23 M at paper scale
    return urls.__contains__


# ---------------------------------------------------------------------------------------------- passes
def parse(wet_files: Sequence[Path], out_dir: Path, opts: Options, shard: int, inputs: Inputs,
          download_skipped: Sequence[dict] = (), pages_level: int = shard_lib.PAGES_LEVEL) -> None:
    popts = shard_lib.ParseOptions(
        variant=opts.variant, shard=shard, max_page_chars=opts.max_page_chars,
        require_timestamp=opts.mode == "tfds310", num_buckets=opts.num_buckets, on_bad_wet=opts.on_bad_wet,
        max_bad_wet_fraction=opts.max_bad_wet_fraction, known_corrupt=known_corrupt_names(),
        domain_on_normalized_url=opts.mode == "tfds310", pages_level=pages_level)
    with io_lib.atomic_dir(out_dir) as tmp:
        shard_lib.parse_shard(wet_files, tmp, popts, _domain_filter(opts, inputs), download_skipped)


def resolve(kind: str, shard_dirs: Sequence[Path], out_dir: Path, opts: Options, part: int) -> None:
    """kind: "url" (after parse) or "dedup" (after clean; window or line records by mode)."""
    record_kind = "url" if kind == "url" else opts.dedup
    sub = "urlkeys" if kind == "url" else "dedupkeys"
    with io_lib.atomic_dir(out_dir) as tmp:
        st = part_lib.resolve_part(record_kind, [Path(d) / sub for d in shard_dirs], tmp, part, opts.resolve_parts,
                                   opts.num_buckets)
    logger.info("resolved %s part %d: %d records", kind, part, st.records)


def clean(parse_dir: Path, url_parts: Sequence[Path], out_dir: Path, opts: Options, shard: int,
          inputs: Inputs, pages_level: int = shard_lib.PAGES_LEVEL) -> None:
    copts = shard_lib.CleanPassOptions(
        variant=opts.variant, shard=shard, clean=opts.clean, check_long_words=opts.mode != "paper",
        dedup=opts.dedup, line_key_unicode=opts.line_dedup_v3, url_id_raw=opts.line_dedup_v3,
        num_buckets=opts.num_buckets, num_parts=opts.resolve_parts, pages_level=pages_level)
    clean_opts = None
    if opts.clean:
        inline = badwords_lib.BadwordMatcher(resources.load_badwords(inputs.data_dir), inline=True) \
            if opts.inline_badwords else None
        clean_opts = CleanOptions(check_long_words=opts.mode != "paper", badwords_regex=inline)
    with io_lib.atomic_dir(out_dir) as tmp:
        shard_lib.clean_shard(parse_dir, url_parts, tmp, copts, _sentences(inputs), clean_opts,
                              _webtext_filter(opts, inputs))


def finish(clean_dir: Path, dedup_parts: Sequence[Path] | None, out_dir: Path, opts: Options, shard: int,
           inputs: Inputs) -> None:
    regex = badwords_lib.BadwordMatcher(resources.load_badwords(inputs.data_dir), inline=False) \
        if opts.page_badwords else None
    fopts = shard_lib.FinishOptions(
        variant=opts.variant, shard=shard, dedup=opts.dedup, line_key_unicode=opts.line_dedup_v3,
        keep_local_duplicates=not opts.line_dedup_v3, languages=opts.languages,
        langdetect_threshold=opts.langdetect_threshold, page_badwords=regex,
        validation_one_in=opts.validation_one_in, num_buckets=opts.num_buckets, num_parts=opts.resolve_parts)
    with io_lib.atomic_dir(out_dir) as tmp:
        shard_lib.finish_shard(clean_dir, dedup_parts, tmp, fopts, _sentences(inputs), langid.top_language_batch)


# ---------------------------------------------------------------------------------------------- merge
def _link(src: Path, dst: Path) -> None:
    """Hard-link a shard's output into the variant folder (no copy at paper scale); copy across filesystems."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def output_name(opts: Options, lang: str, split: str, shard: int, num_shards: int) -> str:
    name = f"{split}-{shard:05d}-of-{num_shards:05d}.jsonl.gz"
    return f"{lang}/{name}" if len(opts.languages) > 1 else name


def merge(parse_dirs: Sequence[Path], clean_dirs: Sequence[Path], finish_dirs: Sequence[Path], out_dir: Path,
          opts: Options, inputs: Inputs, dumps: Sequence[str] = ()) -> dict:
    """The variant's folder: every shard's files under their global names, merged stats, manifest (D24)."""
    from t5repro.c4 import stats_csv

    num_shards = len(finish_dirs)
    with io_lib.atomic_dir(out_dir) as tmp:
        for s, d in enumerate(finish_dirs):
            for lang in opts.languages:
                for split in ("train", "validation"):
                    src = Path(d) / ((f"{lang}.{split}" if len(opts.languages) > 1 else split) + ".jsonl.gz")
                    dst = tmp / output_name(opts, lang, split, s, num_shards)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    _link(src, dst)
        shard_csvs = [Path(d) / shard_lib.STATS_FILE for d in (*parse_dirs, *clean_dirs, *finish_dirs)]
        stats_csv.merge_stats(shard_csvs, tmp / "stats.csv")
        rows = stats_csv.read_rows(tmp / "stats.csv")
        stats_csv.check_funnel(rows)
        summary = summarize(rows)
        skipped = []
        for d in parse_dirs:
            skipped += json.loads((Path(d) / "skipped_wet_files.json").read_text())
        summary["skipped_wet_files"] = skipped
        io_lib.write_json(tmp / "stats.json", summary)
        io_lib.write_json(tmp / "manifest.json", io_lib.run_metadata({
            "stage": "c4", "c4_mode": opts.mode, "variant": opts.variant, "options": opts.__dict__,
            "dumps": list(dumps), "shards": num_shards,
            "wet_file_count": summary["wet_files"], "skipped_corrupt_wet_files": skipped,
            "known_corrupt_list": sorted(known_corrupt_names()),
            "resources": _resource_manifest(opts, inputs),
            "drop_counters": summary["dropped"], "splits": summary["splits"],
        }))
    return summary


def _resource_manifest(opts: Options, inputs: Inputs) -> dict:
    out = resources.manifest(inputs.data_dir)
    if opts.variant == "realnewslike":
        from t5repro.c4 import realnews

        out["realnews"] = {"path": str(inputs.realnews_domains), **realnews.manifest()}
    if opts.variant == "webtextlike":
        out["openwebtext"] = {"path": str(inputs.openwebtext)}
    return out


def summarize(rows: list) -> dict:
    """stats.json: pages after each step, drops by step/reason, languages, split sizes (stats_csv.StatRow rows)."""
    total: Counter = Counter()
    for r in rows:
        total[(r.step, r.counter)] += int(r.value)
    steps = list(dict.fromkeys(r.step for r in rows))
    return {
        "pages_after_step": {s: total[(s, "pages_out")] for s in steps if (s, "pages_out") in total},
        "dropped": {f"{s}/{c[8:]}": v for (s, c), v in sorted(total.items()) if c.startswith("dropped/") and v},
        "lines": {f"{s}/{c[6:]}": v for (s, c), v in sorted(total.items()) if c.startswith("lines/") and v},
        "languages": dict(sorted(((c[5:], v) for (s, c), v in total.items() if c.startswith("lang/")),
                                 key=lambda kv: -kv[1])),
        "splits": {sp: {"documents": total[("split", f"pages_out/{sp}")],
                        "bytes": total[("split", f"bytes_out/{sp}")]} for sp in ("train", "validation")},
        "wet_files": total[("parse", "wet_files")],
        "wet_gz_bytes": total[("parse", "wet_gz_bytes")],
    }


# ---------------------------------------------------------------------------------------------- in one process
def work_dirs(work: Path, stage: str, n: int) -> list[Path]:
    """The job folders of one stage under io.c4_work (workflow/rules/c4.smk names the same paths):
    parse/, clean/, finish/ hold shard-NNNNN, url/ and dedup/ hold part-NNNNN."""
    name = "part" if stage in ("url", "dedup") else "shard"
    return [Path(work) / stage / f"{name}-{i:05d}" for i in range(n)]


def split_files(files: Sequence[Path], num_shards: int) -> list[list[Path]]:
    """Contiguous chunks of the sorted file list, so that the shards' order is the files' order (D7 ties)."""
    files = sorted(files)
    n = len(files)
    return [files[n * s // num_shards:n * (s + 1) // num_shards] for s in range(num_shards)]


@dataclass
class Result:
    """An in-process build: the kept pages per split (and language) and the merged statistics."""

    train: list[Page] = field(default_factory=list)
    validation: list[Page] = field(default_factory=list)
    by_language: dict[str, dict[str, list[Page]]] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def _read_output(path: Path) -> list[Page]:
    return [Page(url=r["url"], text=r["text"], timestamp=r["timestamp"], content_type=r["content-type"],
                 content_length=r["content-length"]) for r in io_lib.read_jsonl(path)]


def build_into(wet_files: Sequence[Path], out_dir: Path, opts: Options, inputs: Inputs, *, num_shards: int,
               work_dir: Path, dumps: Sequence[str] = (), pages_level: int = shard_lib.PAGES_LEVEL) -> dict:
    """Every pass of every shard, one after the other, in this process; the same code the DAG runs.

    pages_level: gzip level of the page files between passes (0 where work_dir is thrown away afterwards)."""
    shards = split_files(wet_files, num_shards)
    w = Path(work_dir)
    parse_dirs, clean_dirs, finish_dirs = (work_dirs(w, stage, num_shards) for stage in ("parse", "clean", "finish"))
    url_parts, dedup_parts = (work_dirs(w, kind, opts.resolve_parts) for kind in ("url", "dedup"))
    for s, files in enumerate(shards):
        parse(files, parse_dirs[s], opts, s, inputs, pages_level=pages_level)
    for p, d in enumerate(url_parts):
        resolve("url", parse_dirs, d, opts, p)
    for s in range(num_shards):
        clean(parse_dirs[s], url_parts, clean_dirs[s], opts, s, inputs, pages_level=pages_level)
    if opts.dedup:
        for p, d in enumerate(dedup_parts):
            resolve("dedup", clean_dirs, d, opts, p)
    for s in range(num_shards):
        finish(clean_dirs[s], dedup_parts if opts.dedup else None, finish_dirs[s], opts, s, inputs)
    return merge(parse_dirs, clean_dirs, finish_dirs, out_dir, opts, inputs, dumps)


def build(wet_files: Sequence[Path], opts: Options, data_dir: str | Path, *, num_shards: int = 1,
          realnews_domains: Path | None = None, openwebtext: Path | None = None, pages_level: int = 0) -> Result:
    """Build a variant from WET files in a temporary folder and return its pages (tests, benchmarks).

    The work folder is deleted on return, so the page files between passes are stored, not compressed
    (`pages_level`; the DAG's jobs keep theirs, at shard.PAGES_LEVEL)."""
    inputs = Inputs(Path(data_dir), realnews_domains, openwebtext)
    res = Result()
    with tempfile.TemporaryDirectory(prefix="t5repro-c4-") as tmp:
        out = Path(tmp) / "out"
        res.summary = build_into(wet_files, out, opts, inputs, num_shards=num_shards, work_dir=Path(tmp) / "work",
                                 pages_level=pages_level)
        for lang in opts.languages:
            res.by_language[lang] = {
                split: [p for s in range(num_shards) for p in _read_output(out / output_name(opts, lang, split, s,
                                                                                             num_shards))]
                for split in ("train", "validation")}
    if opts.languages == ("en",):
        res.train, res.validation = res.by_language["en"]["train"], res.by_language["en"]["validation"]
    return res


# ---------------------------------------------------------------------------------------------- stages
def _inputs(cfg: DictConfig) -> Inputs:
    def opt(key: str) -> Path | None:
        value = config_lib.select(cfg, key)
        return Path(str(value)) if value not in (None, "") else None

    return Inputs(config_lib.require_path(cfg, "io.data_dir"), opt("io.realnews_domains"), opt("io.openwebtext"))


def _work(cfg: DictConfig) -> Path:
    return config_lib.require_path(cfg, "io.c4_work")


def _shard_dirs(cfg: DictConfig, stage: str) -> list[Path]:
    n = int(config_lib.require(cfg, "c4.num_shards"))
    return work_dirs(_work(cfg), stage, n)


def _part_dirs(cfg: DictConfig, kind: str, opts: Options) -> list[Path]:
    return work_dirs(_work(cfg), kind, opts.resolve_parts)


def wet_files_of_shard(cfg: DictConfig) -> list[Path]:
    """c4.wet_layout=flat: chunk c4.shard of the files in io.wet_dir; =shard: io.wet_dir is the shard's folder
    (a download shard past the end of the dump's list is empty: no files, no pages)."""
    wet_dir = config_lib.require_path(cfg, "io.wet_dir")
    files = sorted(wet_dir.rglob("*.warc.wet.gz"))
    if str(cfg.c4.wet_layout) == "flat":
        files = split_files(files, int(cfg.c4.num_shards))[int(config_lib.require(cfg, "c4.shard"))]
        if not files:
            raise FileNotFoundError(f"no *.warc.wet.gz files for c4.shard={cfg.c4.shard} in {wet_dir} (io.wet_dir)")
    elif not files:
        logger.warning("no *.warc.wet.gz files in %s (io.wet_dir): an empty shard", wet_dir)
    return files


def run_parse(cfg: DictConfig) -> None:
    """Stage `c4-parse`: one shard's WET files -> io.c4_work/parse/shard-N."""
    opts, s = Options.from_cfg(cfg), int(config_lib.require(cfg, "c4.shard"))
    files = wet_files_of_shard(cfg)
    logger.info("c4-parse %s (%s mode) shard %d: %d WET files", opts.variant, opts.mode, s, len(files))
    parse(files, _shard_dirs(cfg, "parse")[s], opts, s, _inputs(cfg), download_skipped(cfg))


def download_skipped(cfg: DictConfig) -> list[dict]:
    """The WET files the download left out of this shard (download.wet_shard's skipped_wet_files.json, D2)."""
    if str(cfg.c4.wet_layout) != "shard":
        return []
    path = config_lib.require_path(cfg, "io.wet_dir") / "skipped_wet_files.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def run_resolve(cfg: DictConfig) -> None:
    """Stage `c4-resolve`: c4.resolve=url|dedup, part c4.part of c4.resolve_parts."""
    opts, kind, p = Options.from_cfg(cfg), str(config_lib.require(cfg, "c4.resolve")), int(config_lib.require(cfg, "c4.part"))
    if kind not in ("url", "dedup"):
        raise config_lib.ConfigError(f"c4.resolve must be url or dedup, got {kind!r}")
    src = _shard_dirs(cfg, "parse" if kind == "url" else "clean")
    resolve(kind, src, _part_dirs(cfg, kind, opts)[p], opts, p)


def run_clean(cfg: DictConfig) -> None:
    opts, s = Options.from_cfg(cfg), int(config_lib.require(cfg, "c4.shard"))
    clean(_shard_dirs(cfg, "parse")[s], _part_dirs(cfg, "url", opts), _shard_dirs(cfg, "clean")[s], opts, s,
          _inputs(cfg))


def run_finish(cfg: DictConfig) -> None:
    opts, s = Options.from_cfg(cfg), int(config_lib.require(cfg, "c4.shard"))
    finish(_shard_dirs(cfg, "clean")[s], _part_dirs(cfg, "dedup", opts) if opts.dedup else None,
           _shard_dirs(cfg, "finish")[s], opts, s, _inputs(cfg))


def run_merge(cfg: DictConfig) -> None:
    opts = Options.from_cfg(cfg)
    out = config_lib.require_path(cfg, "io.c4_dir")
    summary = merge(_shard_dirs(cfg, "parse"), _shard_dirs(cfg, "clean"), _shard_dirs(cfg, "finish"), out, opts,
                    _inputs(cfg), list(cfg.c4.dumps or []))
    _log_summary(opts, out, summary)


def _log_summary(opts: Options, out: Path, summary: dict) -> None:
    sp = summary["splits"]
    logger.info("c4 %s (%s mode) -> %s: %d WET files (%d skipped), %d train + %d validation documents "
                "(%.1f MB); pages after each step %s", opts.variant, opts.mode, out, summary["wet_files"],
                len(summary["skipped_wet_files"]), sp["train"]["documents"], sp["validation"]["documents"],
                sp["train"]["bytes"] / 1e6, summary["pages_after_step"])


def run(cfg: DictConfig) -> None:
    """Stage `c4`: every pass in this process: io.wet_dir/**/*.warc.wet.gz -> io.c4_dir (atomically)."""
    opts = Options.from_cfg(cfg)
    wet_dir = config_lib.require_path(cfg, "io.wet_dir")
    out = config_lib.require_path(cfg, "io.c4_dir")
    files = sorted(wet_dir.rglob("*.warc.wet.gz"))
    if not files:
        raise FileNotFoundError(f"no *.warc.wet.gz files in {wet_dir} (io.wet_dir)")
    num_shards = min(int(cfg.c4.num_shards), len(files))
    start = time.monotonic()
    work = config_lib.select(cfg, "io.c4_work")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".c4-work-", dir=out.parent) as tmp:
        # a temporary work folder (no io.c4_work) is deleted at the end: its page files need no compression
        summary = build_into(files, out, opts, _inputs(cfg), num_shards=num_shards,
                             work_dir=Path(str(work)) if work else Path(tmp), dumps=list(cfg.c4.dumps or []),
                             pages_level=shard_lib.PAGES_LEVEL if work else 0)
    _log_summary(opts, out, summary)
    logger.info("c4 done in %.1f s", time.monotonic() - start)
