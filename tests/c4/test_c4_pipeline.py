"""The sharded C4 build end to end on generated WET files (spec D5, D7, D12-D18, D24), its variants, and its
equivalence with a one-process build over all pages at once (the global steps must not depend on sharding)."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial

import pytest

from t5repro import config as config_lib
from t5repro.c4 import pipeline, resources, stats_csv, wetgen
from t5repro.c4.badwords import badword_page_filter, inline_regex, page_regex
from t5repro.c4.clean import CleanOptions, clean_page
from t5repro.c4.dedup import dedup_urls, line_dedup, window_dedup
from t5repro.c4.langid import language_filter
from t5repro.c4.pipeline import Options
from t5repro.c4.shard import is_validation
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page, read_wet_file
from t5repro.io import read_jsonl

N_FILES, PER_FILE = 3, 40
MODES = ("paper", "tfds220", "tfds310")


def _cfg(tmp, data_dir, *extra):
    return config_lib.load([f"io.wet_dir={tmp / 'wet'}", f"io.c4_dir={tmp / 'c4'}", f"io.data_dir={data_dir}",
                            f"wet.num_files={N_FILES}", f"wet.pages_per_file={PER_FILE}", *extra])


@pytest.fixture(scope="module")
def wet_dir(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("smoke")
    wetgen.run(_cfg(tmp, data_dir))
    return tmp


@pytest.fixture(scope="module", params=MODES)
def built(request, wet_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    cfg = _cfg(wet_dir, data_dir, f"io.c4_dir={out / 'c4'}", f"c4.mode={request.param}", "c4.validation_one_in=7")
    pipeline.run(cfg)
    return request.param, out / "c4"


def _wet_files(wet_dir):
    return sorted((wet_dir / "wet").glob("*.warc.wet.gz"))


def reference_build(wet_files, mode: str, data_dir) -> dict[str, str]:
    """The D18 steps over every page in memory, with the unsharded functions of dedup.py: url -> text."""
    sentences = resources.load_sentence_splitter(str(data_dir))
    words = resources.load_badwords(data_dir)
    c: Counter = Counter()
    pages = [p for f in wet_files for p in read_wet_file(f, c, require_timestamp=mode == "tfds310")]
    pages = [p for p in pages if len(p.text) <= 190_000]
    pages, _ = dedup_urls(pages, c)
    copts = CleanOptions(check_long_words=mode != "paper",
                         badwords_regex=inline_regex(words) if mode != "tfds310" else None)
    pages = [q for q in (clean_page(p, copts, sentences, c) for p in pages) if not isinstance(q, Drop)]
    if mode == "paper":
        pages, _ = window_dedup(pages, sentences, c)
    else:
        pages, _ = line_dedup(pages, sentences, c, version="2.2.0" if mode == "tfds220" else "3.1.0")
    pages = [q for q in (language_filter(p, c) for p in pages) if not isinstance(q, Drop)]
    if mode == "tfds310":
        rx = page_regex(words)
        pages = [q for q in (badword_page_filter(p, rx) for p in pages) if not isinstance(q, Drop)]
    return {p.url: p.text for p in pages}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shards,buckets,parts", [(1, 1, 1), (3, 7, 3), (2, 16, 5)])
def test_sharded_build_equals_one_process_build(wet_dir, data_dir, mode, shards, buckets, parts):
    """Spec D7/D12/D13: hash-partitioned two-pass dedup gives exactly the all-pages-at-once result."""
    files = _wet_files(wet_dir)
    res = pipeline.build(files, Options(mode=mode, num_buckets=buckets, resolve_parts=parts), data_dir,
                         num_shards=shards)
    ours = {p.url: p.text for p in res.train + res.validation}
    expected = reference_build(files, mode, data_dir)
    assert ours.keys() == expected.keys()
    assert ours == expected
    assert res.summary["dropped"]["url_dedup/filtered-url-duplicate"] > 0


def test_every_generated_rule_is_counted(built):  # spec D24: every exercised rule has a non-zero counter
    mode, out = built
    rows = stats_csv.read_rows(out / "stats.csv")
    stats_csv.check_funnel(rows)  # pages in == pages out + dropped, step after step
    c = Counter()
    for r in rows:
        c[f"{r.step}/{r.counter}"] += r.value
    expected = ["parse/dropped/page-filtered-nourl", "parse/dropped/page-filtered-nocontent",
                "length/dropped/filtered-page-contenttoolong", "url_dedup/dropped/filtered-url-duplicate",
                "clean/lines/lines-no-endmark", "clean/lines/lines-too-short", "clean/lines/lines-javascript",
                "clean/lines/lines-policy", "clean/dropped/filtered-page-loremipsum",
                "clean/dropped/filtered-page-squigglybracket", "clean/dropped/filtered-page-toofewsentences",
                "langid/dropped/page-filtered-ignoredlang", "langid/lang/en", "clean/lines/lines-valid"]
    expected += {"paper": ["dedup/lines/filtered-sentences-duplicate", "dedup/lines/filtered-lines-duplicate",
                           "clean/dropped/filtered-page-badword"],
                 "tfds220": ["dedup/lines/filtered-lines-global_duplicate", "clean/lines/lines-with-too-long-word",
                             "clean/dropped/filtered-page-badword"],
                 "tfds310": ["dedup/lines/filtered-lines-global_duplicate", "dedup/lines/filtered-lines-local_duplicate",
                             "clean/lines/lines-with-too-long-word", "badwords/dropped/filtered-page-badword"]}[mode]
    missing = [k for k in expected if not c.get(k)]
    assert not missing, f"{mode}: counters zero: {missing}"
    if mode == "paper":
        assert not c.get("clean/lines/lines-with-too-long-word")  # step b is v2/v3 only (D18)
    stats = json.loads((out / "stats.json").read_text())
    kept = stats["splits"]["train"]["documents"] + stats["splits"]["validation"]["documents"]
    assert kept == stats["pages_after_step"]["split"] == c["split/pages_out"] > 0
    assert c["parse/wet_records"] == N_FILES * (PER_FILE + 1) and c["parse/wet_files"] == N_FILES


def test_outputs_readable_and_split(built):  # spec D16, D17, D24
    mode, out = built
    n = 2
    train = [r for k in range(n) for r in read_jsonl(out / f"train-{k:05d}-of-{n:05d}.jsonl.gz")]
    val = [r for k in range(n) for r in read_jsonl(out / f"validation-{k:05d}-of-{n:05d}.jsonl.gz")]
    assert train and val
    assert all(set(r) == {"url", "text", "timestamp", "content-type", "content-length"} for r in train)
    assert not any(is_validation(r["url"], 7) for r in train)
    assert all(is_validation(r["url"], 7) for r in val)
    assert not any("lorem ipsum" in r["text"].lower() or "{" in r["text"] for r in train + val)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["c4_mode"] == mode and manifest["wet_file_count"] == N_FILES and manifest["variant"] == "en"
    assert manifest["resources"]["ldnoobw_en"]["sha256"].startswith("a506cbcf")
    assert manifest["versions"]["langdetect"] and manifest["versions"]["nltk"]
    assert manifest["skipped_corrupt_wet_files"] == [] and manifest["known_corrupt_list"]


def test_d7_newest_duplicate_url_is_kept(built):
    _, out = built
    urls = [r["url"] for k in range(2) for split in ("train", "validation")
            for r in read_jsonl(out / f"{split}-{k:05d}-of-00002.jsonl.gz")]
    weekly = [u for u in urls if "weekly-digest" in u]
    assert weekly == [f"https://weekly-digest.example.org/this-week/?ref=file{N_FILES - 1}"] or weekly == []


def test_noclean_variant_runs_language_only(wet_dir, data_dir):  # spec D19: no heuristics, no dedup
    files = _wet_files(wet_dir)
    res = pipeline.build(files, Options(variant="en.noclean"), data_dir, num_shards=2)
    clean = pipeline.build(files, Options(variant="en"), data_dir, num_shards=2)
    assert list(res.summary["pages_after_step"]) == ["parse", "length", "url_dedup", "langid", "split"]
    noclean = {p.url: p.text for p in res.train + res.validation}
    assert len(noclean) > len(clean.train + clean.validation)
    assert any("{" in t or "lorem ipsum" in t.lower() for t in noclean.values())  # not cleaned


def test_multilingual_variant_has_de_fr_ro(wet_dir, data_dir):  # spec D30
    res = pipeline.build(_wet_files(wet_dir), Options(variant="multilingual"), data_dir, num_shards=2)
    for lang in ("de", "fr", "ro"):
        assert res.by_language[lang]["train"], lang
    assert set(res.summary["languages"]) >= {"de", "fr", "ro", "en"}
    assert "badwords" not in res.summary["pages_after_step"]
    assert res.summary["lines"]["dedup/filtered-lines-global_duplicate"] > 0  # D30: D13 line dedup


def test_d5_length_boundary(tmp_path, wet_member, data_dir):  # more than 190,000 characters (not bytes)
    body_ok = ("\u00e9" * 189_990 + " ok.").encode()
    body_long = ("x" * 190_001).encode()
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "a.warc.wet.gz").write_bytes(
        wet_member(None, b"", rec_type="warcinfo") + wet_member("http://a.org/1", body_ok) +
        wet_member("http://a.org/2", body_long))
    out = tmp_path / "parse"
    pipeline.parse([tmp_path / "w" / "a.warc.wet.gz"], out, Options(), 0, pipeline.Inputs(data_dir))
    rows = {(r.step, r.counter): r.value for r in stats_csv.read_rows(out / "stats.csv")}
    assert rows[("length", "pages_in")] == 2 and rows[("length", "dropped/filtered-page-contenttoolong")] == 1
    assert Options().max_page_chars == 190_000


def test_d15_page_badwords(badwords):  # spec D15: word at the start of the text matches; fraction 1.0 drops
    rx = page_regex(badwords)
    assert badword_page_filter(Page("http://a.org", "Ass is here."), rx) == Drop("filtered-page-badword")
    assert isinstance(badword_page_filter(Page("http://a.org", "The grass is here."), rx), Page)
    page = Page("http://a.org", "the ass is here.")
    assert badword_page_filter(page, rx, fraction=0.0) is page


def test_d16_split_rule():
    from hashlib import md5
    h = int(md5(b"example.com/a").hexdigest(), 16)
    assert is_validation("https://www.example.com/a/?utm_source=x") == (h % 1000 == 0)
    hits = [u for u in (f"https://x.org/{i}" for i in range(5000)) if is_validation(u)]
    assert 0 < len(hits) < 15  # about 0.1 %


def test_options_refuse_bad_values():
    with pytest.raises(config_lib.ConfigError, match="c4.variant"):
        Options(variant="en.clean")
    with pytest.raises(config_lib.ConfigError, match="c4.resolve_parts"):
        Options(num_buckets=2, resolve_parts=3)
    with pytest.raises(config_lib.ConfigError, match="c4.on_bad_wet"):
        Options(on_bad_wet="ignore")


def test_missing_resource_names_key(tmp_path):
    cfg = _cfg(tmp_path, tmp_path / "nowhere", "wet.num_files=1", "wet.pages_per_file=3")
    wetgen.run(cfg)
    with pytest.raises(ValueError, match=r"io\.data_dir"):
        pipeline.run(cfg)
    assert not (tmp_path / "c4").exists()


def test_stage_commands_build_the_same_folder(wet_dir, data_dir, tmp_path):
    """The per-job stages (what Snakemake runs) produce what `c4` produces in one process."""
    one_process = tmp_path / "one"
    pipeline.run(_cfg(wet_dir, data_dir, f"io.c4_dir={one_process}", "c4.validation_one_in=7"))
    common = [f"io.wet_dir={wet_dir / 'wet'}", f"io.data_dir={data_dir}", f"io.c4_work={tmp_path / 'work'}",
              "c4.num_shards=2", "c4.validation_one_in=7"]
    run = partial(lambda fn, *o: fn(config_lib.load(common + list(o))))
    for s in range(2):
        run(pipeline.run_parse, f"c4.shard={s}")
    for p in range(2):
        run(pipeline.run_resolve, "c4.resolve=url", f"c4.part={p}")
    for s in range(2):
        run(pipeline.run_clean, f"c4.shard={s}")
    for p in range(2):
        run(pipeline.run_resolve, "c4.resolve=dedup", f"c4.part={p}")
    for s in range(2):
        run(pipeline.run_finish, f"c4.shard={s}")
    run(pipeline.run_merge, f"io.c4_dir={tmp_path / 'c4'}")
    # wet_layout=flat splits the 3 files 1 + 2 as `c4` does, so every output file is byte-identical
    for f in sorted(one_process.glob("*.jsonl.gz")):
        assert (tmp_path / "c4" / f.name).read_bytes() == f.read_bytes(), f.name
    assert (tmp_path / "c4" / "stats.csv").read_text() == (one_process / "stats.csv").read_text()


@pytest.mark.parametrize("variant,step", [("realnewslike", "domain"), ("webtextlike", "webtext")])
def test_list_variants_filter_by_their_lists(wet_dir, data_dir, tmp_path, variant, step):  # spec D6, D8
    from t5repro.c4 import realnews, variant_inputs, webtext

    inputs = tmp_path / "inputs"
    variant_inputs.write_variant_inputs(wet_dir / "wet", inputs)
    domains = inputs / "realnews" / "domain_to_allowed_subdomains.json"
    res = pipeline.build(_wet_files(wet_dir), Options(variant=variant), data_dir, num_shards=2,
                         realnews_domains=domains, openwebtext=inputs / "openwebtext")
    after = res.summary["pages_after_step"]
    assert step in after and 0 < after[step]
    assert res.summary["dropped"][f"{step}/" + ("filtered-url-not-realnews-domain" if step == "domain"
                                               else "filtered-url-not-in-openwebtext")] > 0
    kept = res.train + res.validation
    assert kept
    if variant == "realnewslike":
        keep = realnews.RealNewsFilter(realnews.load_domains(domains))
        assert all(keep(p.url) for p in kept)
    else:
        urls = webtext.load_openwebtext_urls(inputs / "openwebtext")
        assert all(webtext.keep(p.url, urls) for p in kept)
    full = {p.url for p in pipeline.build(_wet_files(wet_dir), Options(), data_dir, num_shards=2).train}
    assert {p.url for p in res.train} < full  # a strict subset of C4's pages (same rules after the filter)


@pytest.mark.parametrize("level", [0, 1])  # build()'s temporary work folder; the DAG's jobs
def test_intermediate_page_files_round_trip_and_reject_bad_files(tmp_path, level):
    """The pages between passes (shard.PageWriter/read_pages): every field, order and URL key come back; a file
    that is not one, is truncated or is corrupt raises ValueError naming it instead of yielding wrong pages."""
    import gzip
    import hashlib

    from t5repro.c4.shard import PAGES_MAGIC, PageWriter, page_json, read_pages

    text = "line one.\nline \u201ctwo\u201d \\ \" \t\x00 \U0001f600"
    pages = [Page(url=f"http://ex.org/{i}?q=\u00e9", text=text * (i % 7),
                  timestamp="2019-04-20T10:00:00Z" if i % 3 else "", content_type="text/plain",
                  content_length=str(i)) for i in range(300)]
    pages.append(Page(url="http://big.org/", text="x" * 3_000_000))  # larger than a read chunk
    keys = [hashlib.md5(str(i).encode()).digest() for i in range(len(pages))]
    path = tmp_path / "pages.bin.gz"
    w = PageWriter(path, level)
    for i, (p, k) in enumerate(zip(pages, keys)):
        w.write(p, (7 << 40) + i, k)
    w.close()
    back = list(read_pages(path))
    assert [(p.url, p.text, p.timestamp, p.content_type, p.content_length) for p, _, _ in back] == \
        [(p.url, p.text, p.timestamp, p.content_type, p.content_length) for p in pages]
    assert [o for _, o, _ in back] == [(7 << 40) + i for i in range(len(pages))]
    assert [k for _, _, k in back] == keys
    for p in pages[:50]:  # the output lines: json.dumps of the D17 record, byte for byte
        assert page_json(p) == json.dumps(p.record(), ensure_ascii=False)

    raw = gzip.decompress(path.read_bytes())
    bad = {"not_ours.gz": gzip.compress(b'{"url": "x"}\n'), "cut_record.gz": gzip.compress(raw[:len(raw) // 2]),
           "cut_gzip.gz": path.read_bytes()[:5000], "not_gzip.gz": b"plain bytes, no gzip",
           "not_utf8.gz": gzip.compress(raw.replace("\u201c".encode(), b"\xff\xfe\xfd", 1))}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=name):
            list(read_pages(tmp_path / name))
    assert raw.startswith(PAGES_MAGIC)
