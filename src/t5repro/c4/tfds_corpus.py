"""The §3.4.1 / Table 8 corpora that are not built from Common Crawl: Wikipedia and Wikipedia + TBC (spec D19).

A TFDS dataset is prepared into a TFDS data_dir (`prepare_builder`, paper scale only: it downloads) and its
documents are exported to our C4 on-disk layout, so the pre-training task (`t5repro.tasks.c4`, which reads
`{split}-*.jsonl.gz` with a `text` field) reads it unchanged:

    out_dir/train-{k:05d}-of-{n:05d}.jsonl.gz, out_dir/validation-00000-of-00001.jsonl.gz, out_dir/manifest.json

with records `{"url", "text"}` (the D17 fields a non-web corpus has). `url` is a stable document id,
`<url_prefix><url_key value>`, e.g. `wikipedia/20190301.en/<title>`; it plays the role of the page URL in
the D16 split rule (`t5repro.c4.shard.is_validation`, as for web pages) and in the train-shard hash.

Splits: a source with its own validation split (PG-19) exports it as validation; a source without one
(Wikipedia has only `train`) holds documents out of its train split with the D16 rule, validation iff
`int(md5(normalize_url(url)), 16) % validation_one_in == 0` (0.1 % at 1000).

The Toronto Books Corpus is not public (spec Q4); `conf/c4_variant/wikipedia_tbc.yaml` lists TFDS `pg19`
(Project Gutenberg books published before 1919) as its stand-in, and that row is marked non-comparable.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from t5repro import io as io_lib
from t5repro.c4.dedup import normalize_url
from t5repro.c4.shard import is_validation
from t5repro.config import ConfigError

logger = logging.getLogger(__name__)

TRAIN, VALIDATION = "train", "validation"


@dataclass(frozen=True)
class TfdsSource:
    """One TFDS dataset of a corpus and how its examples become `{url, text}` records."""

    name: str                           # TFDS builder name with its config, e.g. "wikipedia/20190301.en"
    text_key: str = "text"              # feature holding the document text
    url_key: str = "title"              # feature that identifies the document (title, book id)
    url_prefix: str | None = None       # None: "<name>/"
    train_split: str = TRAIN
    validation_split: str | None = None  # None: hold out of train_split by the D16 md5 rule

    @property
    def prefix(self) -> str:
        return f"{self.name}/" if self.url_prefix is None else self.url_prefix

    @classmethod
    def from_cfg(cls, node: Mapping[str, Any]) -> "TfdsSource":
        """From one entry of `c4_variant.tfds_sources`; an unknown or missing key raises ConfigError naming it."""
        d = dict(node)
        fields = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - fields)
        if unknown:
            raise ConfigError(f"c4_variant.tfds_sources: unknown key(s) {unknown} (known: {sorted(fields)})")
        if not d.get("name"):
            raise ConfigError("c4_variant.tfds_sources: every source needs a `name` (TFDS builder name/config)")
        return cls(**{k: (str(v) if v is not None else None) for k, v in d.items()})


# ---------------------------------------------------------------------------------------------- records
def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "item"):  # numpy scalars (e.g. pg19's int32 book_id)
        value = value.item()
        if isinstance(value, bytes):
            return value.decode("utf-8")
    return str(value)


def to_records(examples: Iterable[Mapping[str, Any]], source: TfdsSource, split: str | None = None) -> Iterator[dict]:
    """TFDS examples (as `tfds.as_numpy` yields them: bytes for Text features) -> `{url, text[, split]}`.

    `split` tags the records ("train" / "validation"); None leaves the choice to the D16 rule of the export.
    """
    for ex in examples:
        try:
            rec = {"url": source.prefix + _text(ex[source.url_key]), "text": _text(ex[source.text_key])}
        except KeyError as e:
            raise ValueError(f"{source.name}: example has no feature {e} (features: {sorted(ex)})") from None
        if split is not None:
            rec["split"] = split
        yield rec


is_validation_url = is_validation  # spec D16 on a document id, the rule C4 pages follow


def shard_of_url(url: str, num_shards: int) -> int:
    """Train shard of a document: a hash of its normalised id, independent of the D16 split hash."""
    return int(hashlib.sha1(("shard:" + normalize_url(url)).encode("utf-8")).hexdigest(), 16) % num_shards


# ---------------------------------------------------------------------------------------------- export
def _open_jsonl_gz(path: Path):
    raw = gzip.GzipFile(path, "wb", mtime=0)  # mtime=0: same input, byte-identical shards
    return raw, io.TextIOWrapper(raw, encoding="utf-8")


def export_tfds_corpus(ds_iterable: Iterable[Mapping[str, Any]], out_dir: str | Path, num_shards: int, *,
                       validation_one_in: int = 1000, manifest_extra: Mapping[str, Any] | None = None) -> dict:
    """Write `{url, text}` dicts to `out_dir` in the C4 layout, atomically; return the manifest.

    Each dict needs `url` and `text`; an optional `split` ("train" / "validation") fixes its split, otherwise
    the D16 rule on `url` decides. Documents whose text is empty or only whitespace are skipped (counted).
    Train documents go to shard `shard_of_url(url, num_shards)`, in input order; validation to one file.
    Streams: memory does not grow with the corpus.
    """
    if num_shards < 1 or validation_one_in < 1:
        raise ValueError(f"num_shards ({num_shards}) and validation_one_in ({validation_one_in}) must be >= 1")
    out_dir = Path(out_dir)
    counters: Counter = Counter()
    splits = {s: {"documents": 0, "characters": 0} for s in (TRAIN, VALIDATION)}
    shard_docs = [0] * num_shards
    with io_lib.atomic_dir(out_dir) as tmp:
        train = [_open_jsonl_gz(tmp / f"train-{k:05d}-of-{num_shards:05d}.jsonl.gz") for k in range(num_shards)]
        valid = _open_jsonl_gz(tmp / "validation-00000-of-00001.jsonl.gz")
        try:
            for i, doc in enumerate(ds_iterable):
                if "url" not in doc or "text" not in doc:
                    raise ValueError(f"document {i}: needs `url` and `text`, has {sorted(doc)}")
                url, text, split = str(doc["url"]), str(doc["text"]), doc.get("split")
                if not text.strip():
                    counters["skipped-empty-text"] += 1
                    continue
                if split is None:
                    split = VALIDATION if is_validation_url(url, validation_one_in) else TRAIN
                    counters[f"split-by-md5:{split}"] += 1
                elif split not in splits:
                    raise ValueError(f"document {i} ({url}): split {split!r} is not train or validation")
                if split == TRAIN:
                    k = shard_of_url(url, num_shards)
                    f = train[k][1]
                    shard_docs[k] += 1
                else:
                    f = valid[1]
                f.write(json.dumps({"url": url, "text": text}, ensure_ascii=False) + "\n")
                splits[split]["documents"] += 1
                splits[split]["characters"] += len(text)
        finally:
            for raw, f in train + [valid]:
                f.close()
        manifest = io_lib.run_metadata({
            "stage": "download",
            "what": "tfds_corpus",
            "num_shards": num_shards,
            "validation_one_in": validation_one_in,
            "splits": splits,
            "train_shards": shard_docs,
            "counters": dict(sorted(counters.items())),
            **dict(manifest_extra or {}),
        })
        io_lib.write_json(tmp / "manifest.json", manifest)
    logger.info("exported %d train and %d validation documents into %s", splits[TRAIN]["documents"],
                splits[VALIDATION]["documents"], out_dir)
    return manifest


# ---------------------------------------------------------------------------------------------- TFDS (paper scale)
def prepare_builder(source: TfdsSource, data_dir: str | Path):
    """`tfds.builder(source.name, data_dir=...)`, downloaded and prepared (a prepared copy on GCS is used when
    TFDS has one: Wikipedia's 2019 dump is no longer served by the Wikimedia mirrors). Paper scale only."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(source.name, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=True))
    return builder


def iter_source(builder, source: TfdsSource) -> Iterator[dict]:
    """The `{url, text, split}` records of one prepared source (train split, and its validation split if any)."""
    import tensorflow_datasets as tfds

    def examples(split: str):
        return tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))

    yield from to_records(examples(source.train_split), source, split=TRAIN if source.validation_split else None)
    if source.validation_split:
        yield from to_records(examples(source.validation_split), source, split=VALIDATION)


def build_corpus(sources: list[TfdsSource], data_dir: str | Path, out_dir: str | Path, num_shards: int, *,
                 validation_one_in: int = 1000, manifest_extra: Mapping[str, Any] | None = None) -> dict:
    """Prepare every source into `data_dir` and export their concatenation to `out_dir` (paper scale)."""
    from importlib import metadata

    builders = [prepare_builder(s, data_dir) for s in sources]
    info = [{**asdict(s), "version": str(b.info.version)} for s, b in zip(sources, builders)]

    def docs():
        for s, b in zip(sources, builders):
            yield from iter_source(b, s)

    extra = {"sources": info, "tfds_data_dir": str(data_dir),
             "tensorflow_datasets": metadata.version("tensorflow-datasets"), **dict(manifest_extra or {})}
    return export_tfds_corpus(docs(), out_dir, num_shards, validation_one_in=validation_one_in, manifest_extra=extra)
