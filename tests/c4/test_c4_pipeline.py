"""Stage `c4` end to end on generated WET files (spec D5, D15, D16, D18, D24) and its failure behaviour."""

from __future__ import annotations

import json

import pytest

from t5repro import config as config_lib
from t5repro.c4 import pipeline, wetgen
from t5repro.c4.badwords import badword_page_filter, page_regex
from t5repro.c4.pipeline import Options, is_validation, length_filter
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page, WetFormatError
from t5repro.io import read_jsonl

N_FILES, PER_FILE = 2, 40


def _cfg(tmp, data_dir, *extra):
    return config_lib.load([f"io.wet_dir={tmp / 'wet'}", f"io.c4_dir={tmp / 'c4'}", f"io.data_dir={data_dir}",
                            f"wet.num_files={N_FILES}", f"wet.pages_per_file={PER_FILE}", *extra])


@pytest.fixture(scope="module")
def wet_dir(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("smoke")
    wetgen.run(_cfg(tmp, data_dir))
    return tmp


@pytest.fixture(scope="module", params=["paper", "tfds220", "tfds310"])
def built(request, wet_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    cfg = _cfg(wet_dir, data_dir, f"io.c4_dir={out / 'c4'}", f"c4.mode={request.param}", "c4.validation_one_in=7")
    pipeline.run(cfg)
    return request.param, out / "c4"


def test_wet_stage_writes_named_files(wet_dir):
    names = sorted(p.name for p in (wet_dir / "wet").iterdir())
    assert names == [wetgen.FILE_PATTERN.format(i=i) for i in range(N_FILES)]


def test_every_generated_rule_is_counted(built):  # spec D24: counters non-zero for every exercised rule
    mode, out = built
    stats = json.loads((out / "stats.json").read_text())
    c = stats["counters"]
    expected = ["page-filtered-nourl", "page-filtered-nocontent", "filtered-page-contenttoolong",
                "filtered-url-duplicate", "lines-no-endmark", "lines-too-short", "lines-javascript", "lines-policy",
                "filtered-page-loremipsum", "filtered-page-squigglybracket", "filtered-page-toofewsentences",
                "filtered-page-badword", "page-filtered-ignoredlang", "page-emited-en", "lines-valid"]
    expected += {"paper": ["filtered-sentences-duplicate", "filtered-lines-duplicate"],
                 "tfds220": ["filtered-lines-global_duplicate", "lines-with-too-long-word"],
                 "tfds310": ["filtered-lines-global_duplicate", "filtered-lines-local_duplicate",
                             "lines-with-too-long-word"]}[mode]
    missing = [k for k in expected if not c.get(k)]
    assert not missing, f"{mode}: counters zero: {missing}"
    if mode == "paper":
        assert "lines-with-too-long-word" not in c  # step b is v2/v3 only (D18)
    # every page is accounted for: parsed = kept + dropped after parsing
    dropped_after_parse = sum(v for k, v in stats["dropped_pages"].items() if not k.startswith("parse/"))
    kept = stats["splits"]["train"]["documents"] + stats["splits"]["validation"]["documents"]
    assert stats["pages_after_step"]["parsed"] == kept + dropped_after_parse
    assert c["wet-records"] == N_FILES * (PER_FILE + 1)
    assert stats["languages"]["en"] >= kept and stats["bytes"]["text_out_train"] > 20_000


def test_outputs_readable_and_split(built):  # spec D16, D17
    mode, out = built
    n = 2
    train = [r for k in range(n) for r in read_jsonl(out / f"train-{k:05d}-of-{n:05d}.jsonl.gz")]
    val = list(read_jsonl(out / "validation-00000-of-00001.jsonl.gz"))
    assert train and all(set(r) == {"url", "text", "timestamp", "content-type", "content-length"} for r in train)
    assert all(not is_validation(Page(r["url"], ""), 7) for r in train)
    assert all(is_validation(Page(r["url"], ""), 7) for r in val)
    assert not any("lorem ipsum" in r["text"].lower() or "{" in r["text"] for r in train + val)
    for lang in ("de", "fr", "ro"):
        assert list(read_jsonl(out / "multilingual" / f"{lang}.jsonl.gz")), lang
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["c4_mode"] == mode and manifest["wet_file_count"] == N_FILES
    assert manifest["resources"]["ldnoobw_en"]["sha256"].startswith("a506cbcf")
    assert manifest["versions"]["langdetect"] and manifest["versions"]["nltk"]


def test_d7_newest_duplicate_url_is_kept(built):
    _, out = built
    urls = [r["url"] for k in range(2) for r in read_jsonl(out / f"train-{k:05d}-of-00002.jsonl.gz")]
    weekly = [u for u in urls if "weekly-digest" in u]
    assert weekly == [f"https://weekly-digest.example.org/this-week/?ref=file{N_FILES - 1}"] or weekly == []


def test_d5_length_boundary():  # spec D5: more than 190,000 characters (not bytes) is too long
    keep = Page("u", "\u00e9" * 190_000)
    assert length_filter(keep) is keep
    assert length_filter(Page("u", "x" * 190_001)) == Drop("filtered-page-contenttoolong")
    assert Options().max_page_chars == 190_000


def test_d15_page_badwords(badwords):  # spec D15: word at the start of the text matches; fraction 1.0 drops
    rx = page_regex(badwords)
    assert badword_page_filter(Page("http://a.org", "Ass is here."), rx) == Drop("filtered-page-badword")
    assert isinstance(badword_page_filter(Page("http://a.org", "The grass is here."), rx), Page)
    page = Page("http://a.org", "the ass is here.")
    assert badword_page_filter(page, rx, fraction=0.0) is page


def test_d16_split_rule():
    from hashlib import md5
    page = Page("https://www.example.com/a/?utm_source=x", "t")
    h = int(md5(b"example.com/a").hexdigest(), 16)
    assert is_validation(page) == (h % 1000 == 0)
    hits = [u for u in (f"https://x.org/{i}" for i in range(5000)) if is_validation(Page(u, ""))]
    assert 0 < len(hits) < 15  # about 0.1 %


def test_bad_wet_stops_job_and_leaves_no_output(tmp_path, data_dir):
    cfg = _cfg(tmp_path, data_dir, "wet.num_files=2", "wet.pages_per_file=5")
    wetgen.run(cfg)
    victim = tmp_path / "wet" / wetgen.FILE_PATTERN.format(i=1)
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(WetFormatError, match=rf"{victim.name}: truncated gzip member at byte offset \d+"):
        pipeline.run(cfg)
    assert not (tmp_path / "c4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c4")]


def test_missing_resource_names_key(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "nowhere", "wet.num_files=1", "wet.pages_per_file=3")
    wetgen.run(cfg)
    with pytest.raises(ValueError, match=r"io\.data_dir"):
        pipeline.run(cfg)
    assert not (tmp_path / "c4").exists()
