"""§3.4.1 Wikipedia / Wikipedia + TBC: TFDS examples -> the C4 on-disk layout (no TFDS data, no network)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from t5repro import config
from t5repro.c4 import tfds_corpus as tc
from t5repro.c4.dedup import normalize_url

VARIANTS = config.conf_dir() / "c4_variant"


def md5_validation(url: str, one_in: int) -> bool:
    return int(hashlib.md5(normalize_url(url).encode()).hexdigest(), 16) % one_in == 0


def read_dir(out: Path) -> dict[str, list[dict]]:
    files = {}
    for p in sorted(out.glob("*.jsonl.gz")):
        with gzip.open(p, "rt", encoding="utf-8") as f:
            files[p.name] = [json.loads(line) for line in f]
    return files


def docs(n: int = 200) -> list[dict]:
    out = [{"url": f"wikipedia/20190301.en/Article {i}", "text": f"Text of article {i}.\nSecond line {i}."}
           for i in range(n)]
    out += [{"url": "wikipedia/20190301.en/Empty", "text": " \n "}]
    out += [{"url": f"pg19/{i}", "text": f"Book {i} text.", "split": "train"} for i in range(5)]
    out += [{"url": f"pg19/{i}", "text": f"Book {i} text.", "split": "validation"} for i in range(100, 103)]
    return out


def test_export_layout_splits_and_shards(tmp_path):
    one_in, n_shards = 7, 3
    src = docs()
    manifest = tc.export_tfds_corpus(iter(src), tmp_path / "out", n_shards, validation_one_in=one_in)
    files = read_dir(tmp_path / "out")
    assert sorted(files) == [f"train-{k:05d}-of-00003.jsonl.gz" for k in range(3)] + ["validation-00000-of-00001.jsonl.gz"]
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert all(set(r) == {"url", "text"} for rs in files.values() for r in rs)

    kept = [d for d in src if d["text"].strip()]
    want_valid = [d for d in kept
                  if d.get("split") == "validation" or ("split" not in d and md5_validation(d["url"], one_in))]
    want_train = [d for d in kept if d not in want_valid]
    strip = lambda ds: [{"url": d["url"], "text": d["text"]} for d in ds]  # noqa: E731
    assert files["validation-00000-of-00001.jsonl.gz"] == strip(want_valid)
    assert 0 < sum(1 for d in want_valid if "split" not in d) < 200  # the D16 rule held some articles out
    for k in range(n_shards):  # input order within a shard, shard = sha1("shard:" + url) % n (as pipeline.shard_of)
        want = [d for d in want_train
                if int(hashlib.sha1(("shard:" + normalize_url(d["url"])).encode()).hexdigest(), 16) % n_shards == k]
        assert files[f"train-{k:05d}-of-00003.jsonl.gz"] == strip(want)
    assert manifest["splits"]["train"]["documents"] == len(want_train)
    assert manifest["splits"]["validation"] == {"documents": len(want_valid),
                                                "characters": sum(len(d["text"]) for d in want_valid)}
    assert manifest["counters"]["skipped-empty-text"] == 1
    assert sum(manifest["train_shards"]) == len(want_train)


def test_export_is_byte_deterministic_and_atomic(tmp_path):
    tc.export_tfds_corpus(docs(), tmp_path / "a", 2, validation_one_in=5)
    tc.export_tfds_corpus(docs(), tmp_path / "b", 2, validation_one_in=5)
    for p in sorted((tmp_path / "a").glob("*.jsonl.gz")):
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()

    def broken():
        yield {"url": "x/1", "text": "fine"}
        yield {"url": "x/2"}

    with pytest.raises(ValueError, match="needs `url` and `text`"):
        tc.export_tfds_corpus(broken(), tmp_path / "c", 2)
    assert not (tmp_path / "c").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ValueError, match="split 'test'"):
        tc.export_tfds_corpus([{"url": "x", "text": "t", "split": "test"}], tmp_path / "d", 1)


def test_pretraining_source_reads_the_export(tmp_path):
    """The C4 pre-training task's source (`{split}-*.jsonl.gz`, `text`) reads the export unchanged."""
    from t5repro.tasks.c4 import c4_source

    src = docs(40)
    tc.export_tfds_corpus(src, tmp_path / "out", 2, validation_one_in=3)
    source = c4_source(str(tmp_path / "out"))
    got = {split: sorted(ex["text"].decode() for ex in source.get_dataset(split, shuffle=False).as_numpy_iterator())
           for split in ("train", "validation")}
    assert sorted(got["train"] + got["validation"]) == sorted(d["text"] for d in src if d["text"].strip())
    assert got["validation"]


def test_to_records_decodes_tfds_examples():
    wiki = tc.TfdsSource(name="wikipedia/20190301.en")
    recs = list(tc.to_records([{"title": b"Caf\xc3\xa9", "text": b"Some text."}], wiki))
    assert recs == [{"url": "wikipedia/20190301.en/Café", "text": "Some text."}]
    pg = tc.TfdsSource(name="pg19", text_key="book_text", url_key="book_id", url_prefix="pg19/")
    ex = {"book_text": b"Once upon a time.", "book_id": np.int32(42), "book_title": b"T"}
    assert list(tc.to_records([ex], pg, split="validation")) == [
        {"url": "pg19/42", "text": "Once upon a time.", "split": "validation"}]
    with pytest.raises(ValueError, match="no feature 'text'"):
        list(tc.to_records([{"title": b"x"}], wiki))


def test_variant_files_configure_the_sources():
    sources = OmegaConf.to_container(OmegaConf.load(VARIANTS / "wikipedia.yaml"))["tfds_sources"]
    wiki = [tc.TfdsSource.from_cfg(s) for s in sources]
    assert wiki == [tc.TfdsSource(name="wikipedia/20190301.en", text_key="text", url_key="title",
                                  url_prefix="wikipedia/20190301.en/", train_split="train", validation_split=None)]
    tbc = OmegaConf.load(VARIANTS / "wikipedia_tbc.yaml")
    names = [s["name"] for s in tbc.tfds_sources]
    assert names == ["wikipedia/20190301.en", "pg19"]  # D19; PG-19 stands in for the Toronto Books Corpus (Q4)
    assert tbc.comparable is False
    with pytest.raises(config.ConfigError, match="unknown key"):
        tc.TfdsSource.from_cfg({"name": "pg19", "txt_key": "x"})
    with pytest.raises(config.ConfigError, match="name"):
        tc.TfdsSource.from_cfg({"text_key": "x"})


class FakeBuilder:
    """What `tfds.builder` returns, with small splits as real tf.data datasets."""

    calls: list = []

    def __init__(self, name, data_dir):
        import tensorflow as tf

        self.name, self.data_dir, self.prepared = name, data_dir, None
        self.info = type("Info", (), {"version": "1.0.0"})()
        FakeBuilder.calls.append(self)
        if name.startswith("wikipedia"):
            self.splits = {"train": {"title": [f"Title {i}" for i in range(30)],
                                     "text": [f"Article {i} text." for i in range(30)]}}
        else:
            self.splits = {s: {"book_id": np.arange(off, off + n, dtype=np.int32),
                               "book_text": [f"{s} book {i}." for i in range(n)]}
                           for s, off, n in (("train", 0, 12), ("validation", 100, 2), ("test", 200, 2))}
        self._tf = tf

    def download_and_prepare(self, **kwargs):
        self.prepared = kwargs

    def as_dataset(self, split, shuffle_files):
        assert shuffle_files is False
        return self._tf.data.Dataset.from_tensor_slices(self.splits[split])


def variant_cfg(name: str, *overrides: str):
    cfg = config.load(list(overrides))
    with open_dict(cfg):
        cfg.c4_variant = OmegaConf.load(VARIANTS / f"{name}.yaml")
    return cfg


def test_prepare_builder_names_the_dataset_and_data_dir(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    FakeBuilder.calls = []
    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None, **kw: FakeBuilder(name, data_dir))
    b = tc.prepare_builder(tc.TfdsSource(name="wikipedia/20190301.en"), tmp_path / "tfds")
    assert (b.name, b.data_dir) == ("wikipedia/20190301.en", str(tmp_path / "tfds"))
    assert b.prepared["download_config"].try_download_gcs is True


def test_download_tfds_corpus_wikipedia_tbc(monkeypatch, tmp_path):
    """`t5repro download download.what=tfds_corpus c4_variant=wikipedia_tbc` with tfds.builder mocked."""
    import tensorflow_datasets as tfds

    from t5repro import download

    FakeBuilder.calls = []
    monkeypatch.setattr(tfds, "builder", lambda name, data_dir=None, **kw: FakeBuilder(name, data_dir))
    cfg = variant_cfg("wikipedia_tbc", "download.what=tfds_corpus", f"io.tfds_dir={tmp_path / 'tfds'}",
                      f"io.out={tmp_path / 'out'}", "c4.validation_one_in=4")
    with open_dict(cfg):
        cfg.c4_variant.export_num_shards = 2
    download.run(cfg)
    assert [(b.name, b.data_dir) for b in FakeBuilder.calls] == [
        ("wikipedia/20190301.en", str(tmp_path / "tfds")), ("pg19", str(tmp_path / "tfds"))]
    files = read_dir(tmp_path / "out")
    assert sorted(files) == ["train-00000-of-00002.jsonl.gz", "train-00001-of-00002.jsonl.gz",
                             "validation-00000-of-00001.jsonl.gz"]
    valid = [r["url"] for r in files["validation-00000-of-00001.jsonl.gz"]]
    train = [r["url"] for name, rs in files.items() if name.startswith("train") for r in rs]
    wiki_train = [f"wikipedia/20190301.en/Title {i}" for i in range(30)]
    wiki_valid = [u for u in wiki_train if md5_validation(u, 4)]
    assert valid == wiki_valid + ["pg19/100", "pg19/101"]  # wiki held out by D16; PG-19's own validation split
    assert sorted(train) == sorted([u for u in wiki_train if u not in wiki_valid] + [f"pg19/{i}" for i in range(12)])
    assert any(md5_validation(f"pg19/{i}", 4) for i in range(12))  # so the D16 rule must not touch PG-19's train
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["variant"] == "wikipedia_tbc" and manifest["comparable"] is False
    assert [s["name"] for s in manifest["sources"]] == ["wikipedia/20190301.en", "pg19"]


def test_download_tfds_corpus_needs_sources(tmp_path):
    from t5repro import download

    cfg = variant_cfg("en", "download.what=tfds_corpus", f"io.out={tmp_path}")
    with pytest.raises(config.ConfigError, match="c4_variant=wikipedia"):
        download.run(cfg)
