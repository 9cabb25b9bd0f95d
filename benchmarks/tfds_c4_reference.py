"""Reference C4 `en` build (TFDS c4 3.1.0) from TFDS's own `c4_utils` functions, without Apache Beam.

What it is: the Beam glue of `tensorflow_datasets/text/c4.py` (`C4._get_pages_pcollection`,
`_split_generators`, `_build_pcollection`) and of `c4_utils.remove_duplicate_text`, rewritten as plain Python
loops around the *unmodified* TFDS functions, in the same order and with the same arguments as c4.py 3.1.0
passes them for the `en` config (the flags are read from TFDS's own `C4.BUILDER_CONFIGS`, not copied):

    split_wet_file (each WET file, in the given order)           -> PageFeatures
    beam.Filter(is_valid_length)
    (normalized_url, page) | CombinePerKey(select_newest_page)    -> one page per normalised URL
    FlatMap(get_clean_page_fn())                                  # config.clean
    remove_duplicate_text(pages)                                  # config.dedupe, min_num_sentences=3
        FlatMap(_emit_url_to_lines) | Top.PerKey(1, key=_hash_text, reverse=True)
        -> (url, line hash) | CoGroupByKey with (page.url, page) | FlatMap(_remove_lines_from_text)
    FlatMap(detect_english)                                       # languages == ["en"]
    Filter(get_badwords_filter_fn(badwords, filter_fraction=1.0)) # badwords_filter_fraction > 0
    Filter(get_hashed_url_filter_fn(x % 1000 != 0 / == 0))        # train / validation
    Map(_emit_examples)                                           # {url, text, content-type, ...}

Only what needs Beam or the network is replaced (inside `run_reference`, restored afterwards):
`c4_utils.get_counter_inc_fn` returns a function that adds to a local Counter (keys `"<namespace>/<name>"`,
e.g. `"clean-page/line-filtered:no_endmark"`), and `c4_utils._load_sentence_tokenizer` loads NLTK's Punkt
English model from the offline folder `<data_dir>/nltk_data` (NLTK >= 3.8.2 reads it from `punkt_tab`,
the tabular form of `english.pickle`; TFDS's own loader would call `nltk.download("punkt")`). Nothing else
is patched; `tf.io.gfile`, `tf.compat.as_text`, langdetect and `re` are the real ones.

Beam-order choices (Beam guarantees no order; this runner is deterministic): pages are visited in file
order, so `select_newest_page` sees each URL group in file order and, as TFDS's strict `>` implies, keeps
the first page among equal newest timestamps (spec D7 "ties keep the first seen"). `Top.PerKey(1,
key=_hash_text, reverse=True)` = the URL with the smallest MD5 hex digest, computed here as a running
minimum (no ties are possible: equal digests mean equal URLs).

Bad words: c4.py 3.1.0 downloads the LDNOOBW `en` list at commit 25e679f (377 entries) and, for every other
language in `_BADWORDS_LANGS`, the list at 5faf2ba; it builds `badwords[lang] = {line.strip() for line in
file}`, subtracts `_BADWORDS_ALLOWLIST` and passes the dict with `filter_fraction=1.0` for `en`. Only the
`en` regex can fire on this pipeline (every page reaching the filter has `language == "en"`), so only the
`en` file is read, from `<data_dir>/ldnoobw/en` (offline copy, /work/shared/data/README.md; its sha256 is
checked).

    from benchmarks.tfds_c4_reference import run_reference
    out = run_reference(sorted(wet_dir.glob("*.warc.wet.gz")), "/work/shared/data")
    out["train"], out["validation"]   # lists of {"url", "text", "timestamp", "content-type", "content-length"}
    out["counters"]                   # {"<namespace>/<counter>": int}, TFDS 3.1.0 counter names

Also runnable as a script (used by benchmarks/c4_throughput.py): `python -m benchmarks.tfds_c4_reference
WET_FILE... --data-dir DIR [--out result.json]` prints a JSON summary (page counts, counters, CPU/wall
time, peak RSS).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator
from unittest import mock

LDNOOBW_EN_SHA256 = "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"  # @25e679f, spec D1
TFDS_C4_VERSION = "3.1.0"
CONFIG = "en"


def _modules():
    """TFDS's c4.py and c4_utils (import is cheap; TensorFlow itself loads lazily on first use)."""
    from tensorflow_datasets.text import c4, c4_utils

    if str(c4._VERSION) != TFDS_C4_VERSION:
        raise RuntimeError(f"installed TFDS has c4 {c4._VERSION}, this reference reproduces {TFDS_C4_VERSION}")
    return c4, c4_utils


@contextlib.contextmanager
def _patched(c4_utils, counters: collections.Counter, data_dir: Path) -> Iterator[None]:
    """Replace the two Beam/network-bound functions of c4_utils; restore them (and the memo) afterwards."""

    def get_counter_inc_fn(namespace):
        def counter_inc_fn(counter, amt=1):
            counters[f"{namespace}/{counter}"] += amt

        return counter_inc_fn

    def load_sentence_tokenizer():
        # What c4_utils._load_sentence_tokenizer does with NLTK installed, minus nltk.download (offline):
        # the Punkt English model, here from <data_dir>/nltk_data via nltk.data.path.
        import nltk
        from nltk.tokenize import PunktTokenizer

        nltk_dir = str(data_dir / "nltk_data")
        with c4_utils._nltk_lock:
            if nltk_dir not in nltk.data.path:
                nltk.data.path.insert(0, nltk_dir)
            found = Path(nltk.data.find("tokenizers/punkt_tab/english/")).resolve()
            if Path(nltk_dir).resolve() not in found.parents:
                raise RuntimeError(f"NLTK found punkt_tab at {found}, not under {nltk_dir}")
            return PunktTokenizer("english")

    with mock.patch.object(c4_utils, "get_counter_inc_fn", get_counter_inc_fn), \
            mock.patch.object(c4_utils, "_load_sentence_tokenizer", load_sentence_tokenizer), \
            mock.patch.object(c4_utils, "_SENTENCE_TOKENIZER", None):
        yield


def _read_badwords(data_dir: Path) -> list[str]:
    path = data_dir / "ldnoobw" / "en"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LDNOOBW_EN_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest}, expected {LDNOOBW_EN_SHA256} (LDNOOBW en @25e679f)")
    with open(path, encoding="utf-8") as f:  # c4.py: epath.Path(path).open(), `l.strip() for l in f`
        return [line.strip() for line in f]


def _remove_duplicate_text(c4_utils, pages: list, min_num_sentences: int, line_delimiter: str = "\n") -> list:
    """c4_utils.remove_duplicate_text without Beam (same functions, same arguments)."""
    # pages | FlatMap(_emit_url_to_lines) | Top.PerKey(1, key=_hash_text, reverse=True): per line hash, the
    # url with the smallest _hash_text(url).
    selected: dict[str, tuple[str, str]] = {}  # line hash -> (_hash_text(url), url)
    url_key: dict[str, str] = {}
    for page in pages:
        for line_hash, url in c4_utils._emit_url_to_lines(page, line_delimiter=line_delimiter):
            key = url_key.get(url)
            if key is None:
                key = url_key[url] = c4_utils._hash_text(url)
            best = selected.get(line_hash)
            if best is None or key < best[0]:
                selected[line_hash] = (key, url)
    # line_to_selected_url | Map(lambda x: (x[1][0], x[0]))  -> (url, line hash)
    lines_by_url: dict[str, list[str]] = collections.defaultdict(list)
    for line_hash, (_, url) in selected.items():
        lines_by_url[url].append(line_hash)
    # {"pages": pages | Map(lambda p: (p.url, p)), "lines": lines_to_keep} | CoGroupByKey()
    pages_by_url: dict[str, list] = collections.defaultdict(list)
    for page in pages:
        pages_by_url[page.url].append(page)
    counter_inc_fn = c4_utils.get_counter_inc_fn("dedupe-lines")
    out = []
    for url in list(pages_by_url) + [u for u in lines_by_url if u not in pages_by_url]:
        el = (url, {"pages": pages_by_url.get(url, []), "lines": lines_by_url.get(url, [])})
        out.extend(c4_utils._remove_lines_from_text(el, counter_inc_fn=counter_inc_fn,
                                                    min_num_sentences=min_num_sentences,
                                                    line_delimiter=line_delimiter))
    return out


def reference_pages(wet_files: Iterable[str | os.PathLike], data_dir: str | os.PathLike,
                         counters: collections.Counter) -> list:
    """The `en` pages after every filter of c4.py 3.1.0 (before the split), as c4_utils.PageFeatures."""
    c4, c4_utils = _modules()
    config = next(c for c in c4.C4.BUILDER_CONFIGS if c.name == CONFIG)
    if config.realnewslike or config.webtextlike or config.paragraph_filter:
        raise RuntimeError(f"config {CONFIG!r} needs a step this runner does not implement")
    data_dir = Path(data_dir)
    with _patched(c4_utils, counters, data_dir):
        # wet_file_paths | FlatMap(split_wet_file) | Filter(is_valid_length)
        pages = [p for f in wet_files for p in c4_utils.split_wet_file(os.fspath(f))]
        pages = [p for p in pages if c4_utils.is_valid_length(p)]

        # Map(lambda p: (p.normalized_url, p)) | CombinePerKey(select_newest_page) | Values()
        groups: dict[str, list] = {}
        for p in pages:
            groups.setdefault(p.normalized_url, []).append(p)
        pages = [c4_utils.select_newest_page(g) for g in groups.values()]

        if config.clean:
            clean_fn = c4_utils.get_clean_page_fn()
            pages = [q for p in pages for q in clean_fn(p)]

        if config.dedupe:
            pages = _remove_duplicate_text(c4_utils, pages, c4_utils._MIN_NUM_SENTENCES if config.clean else 0)

        if config.languages != ["en"]:
            raise RuntimeError("only the langdetect (`en`) branch is implemented")
        pages = [q for p in pages for q in c4_utils.detect_english(p)]

        if config.badwords_filter_fraction > 0.0:
            badwords: dict[str, set[str]] = collections.defaultdict(set)
            badwords["en"].update(_read_badwords(data_dir))
            for lang, allowlist in c4._BADWORDS_ALLOWLIST.items():
                badwords[lang] -= allowlist
            keep = c4_utils.get_badwords_filter_fn(badwords, filter_fraction=config.badwords_filter_fraction)
            pages = [p for p in pages if keep(p)]
    return pages


def run_reference(wet_files: Iterable[str | os.PathLike], data_dir: str | os.PathLike) -> dict:
    """TFDS c4/en 3.1.0 on the given WET files: {"train": [...], "validation": [...], "counters": {...}}.

    Each example is the dict c4.py's `_emit_examples` builds: url, text, content-type, content-length,
    timestamp. Lists are in pipeline order (Beam gives no order; compare as sets keyed by url).
    """
    _, c4_utils = _modules()
    counters: collections.Counter = collections.Counter()
    pages = reference_pages(wet_files, data_dir, counters)
    out: dict = {"train": [], "validation": []}
    with _patched(c4_utils, counters, Path(data_dir)):
        split_filters = {  # c4.py _split_generators, single-language version
            "train": c4_utils.get_hashed_url_filter_fn(predicate_fn=lambda x: x % 1000 != 0),
            "validation": c4_utils.get_hashed_url_filter_fn(predicate_fn=lambda x: x % 1000 == 0),
        }
        for split, split_filter_fn in split_filters.items():
            for page in pages:
                if split_filter_fn(page):  # _build_pcollection: Filter(split_filter_fn) | Map(_emit_examples)
                    c4_utils.get_counter_inc_fn(split)("examples")
                    out[split].append({
                        "url": page.url,
                        "text": page.text,
                        "content-type": page.content_type,
                        "content-length": page.content_length,
                        "timestamp": page.timestamp,
                    })
    out["counters"] = dict(sorted(counters.items()))
    return out


def versions() -> dict[str, str]:
    import langdetect  # noqa: F401
    import nltk
    import tensorflow_datasets as tfds
    from importlib.metadata import version

    c4, _ = _modules()
    return {"tensorflow-datasets": tfds.__version__, "c4": str(c4._VERSION), "nltk": nltk.__version__,
            "langdetect": version("langdetect")}


def _main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import resource
    import time

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("wet_files", nargs="+", type=Path)
    ap.add_argument("--data-dir", default=os.environ.get("T5REPRO_DATA", "/work/shared/data"))
    ap.add_argument("--out", type=Path, help="also write the full result (pages and counters) as JSON here")
    args = ap.parse_args(argv)
    _modules()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    res = run_reference(args.wet_files, args.data_dir)
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    if args.out:
        args.out.write_text(json.dumps(res, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"side": "tfds", "wall_s": wall, "cpu_s": cpu, "train": len(res["train"]),
                      "validation": len(res["validation"]), "counters": res["counters"],
                      "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "versions": versions()}))


if __name__ == "__main__":
    _main()
