"""Smoke inputs of the realnewslike (D6) and webtextlike (D8) variants, derived from the generated WET files."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from t5repro.c4 import realnews, variant_inputs, webtext, wetgen
from t5repro.c4.dedup import normalize_url


@pytest.fixture(scope="module")
def wet_dir(tmp_path_factory) -> Path:
    """The smoke WET files exactly as stage `wet` writes them (default 4 files x 150 pages, seed 0)."""
    from t5repro import config

    d = tmp_path_factory.mktemp("wet")
    wetgen.run(config.load([f"io.wet_dir={d}"]))
    return d


@pytest.fixture(scope="module")
def built(wet_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("variant_inputs")
    return out, variant_inputs.write_variant_inputs(wet_dir, out), variant_inputs.wet_urls(wet_dir)[1]


def test_layout_and_formats(built):
    out, summary, urls = built
    domains_path = out / "realnews" / "domain_to_allowed_subdomains.json"
    url_file = out / "openwebtext" / "OpenWebText" / "Version 1" / "URLs" / "0000.txt"
    assert domains_path.is_file() and url_file.is_file()
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(summary))
    domains = json.loads(domains_path.read_text())
    assert all(v is True or (isinstance(v, list) and all(isinstance(s, str) for s in v)) for v in domains.values())
    lists = [d for d, v in domains.items() if isinstance(v, list)]
    assert 0 < len(lists) < len(domains)  # both grover value kinds
    assert summary["pages"] == len(urls) > 0
    assert summary["realnews"]["tldextract"]["version"] == realnews.manifest()["tldextract"]["version"]


def test_realnews_map_keeps_some_pages_and_drops_others(built):
    out, summary, urls = built
    f = realnews.RealNewsFilter.from_file(out / "realnews" / "domain_to_allowed_subdomains.json")
    for spelled in (urls, [normalize_url(u) for u in urls]):  # raw (paper/tfds220) and normalised (tfds310) URLs
        verdicts = Counter(f.check(u) for u in spelled)
        assert verdicts[realnews.PASSED] > 0 and verdicts[realnews.BAD_DOMAIN] > 0
        assert verdicts[realnews.BAD_SUBDOMAIN] > 0
    assert summary["realnews"]["verdicts"]["raw"] == dict(sorted(Counter(f.check(u) for u in urls).items()))
    # with raw URLs, some list domain both keeps pages (allowed subdomain) and drops pages (another subdomain)
    per_domain: dict[str, set[bool]] = defaultdict(set)
    domains = f.domains
    for u in urls:
        ext = f.extract(u)
        main = ext.domain + "." + ext.suffix
        if isinstance(domains.get(main), list):
            per_domain[main].add(f(u))
    assert any(v == {True, False} for v in per_domain.values())


def test_openwebtext_urls_are_respelled_subsets(built):
    out, summary, urls = built
    lines = (out / summary["openwebtext"]["url_file"]).read_text().splitlines()
    keys = {normalize_url(u) for u in urls}
    owt = webtext.load_openwebtext_urls(out / "openwebtext")
    assert owt == {normalize_url(line) for line in lines}
    in_crawl = [line for line in lines if normalize_url(line) in keys]
    assert in_crawl and len(in_crawl) < len(lines)                  # some URLs have no page (decoys)
    assert not set(in_crawl) & set(urls)                            # every matching URL is spelled differently
    assert {normalize_url(line) for line in in_crawl} < keys         # a strict subset of the pages' keys
    assert len(in_crawl) > len({normalize_url(line) for line in in_crawl})  # some keys twice
    kept = sum(webtext.keep(u, owt) for u in urls)
    assert 0 < kept < len(urls)
    assert summary["openwebtext"]["pages_kept"] == kept


def test_deterministic_and_seeded(wet_dir, built, tmp_path):
    out, _, _ = built
    again = tmp_path / "again"
    variant_inputs.write_variant_inputs(wet_dir, again)
    for rel in (variant_inputs.DOMAINS_FILE, variant_inputs.URL_FILE):
        assert (again / rel).read_bytes() == (out / rel).read_bytes()
    other = tmp_path / "seed1"
    variant_inputs.write_variant_inputs(wet_dir, other, seed=1)
    assert (other / variant_inputs.URL_FILE).read_bytes() != (out / variant_inputs.URL_FILE).read_bytes()
    assert (other / variant_inputs.DOMAINS_FILE).read_bytes() != (out / variant_inputs.DOMAINS_FILE).read_bytes()


def test_wetgen_urls_have_the_variety_the_variants_need(wet_dir):
    """What the smoke variants rely on: many main domains (incl. a multi-label suffix) and several subdomains."""
    _, urls = variant_inputs.wet_urls(wet_dir)
    extract = realnews.offline_extractor()
    exts = [extract(u) for u in urls]
    assert len({e.domain + "." + e.suffix for e in exts}) >= 10
    assert {"", "www"} <= {e.subdomain for e in exts}
    assert "co.uk" in {e.suffix for e in exts}


def test_too_little_variety_is_an_error(tmp_path, wet_member):
    d = tmp_path / "wet"
    d.mkdir()
    body = b"One sentence here for the page.\nAnother sentence here for the page."
    members = [wet_member(None, b"software: test", rec_type="warcinfo")]
    members += [wet_member(f"https://only-one.example.com/{i}", body) for i in range(3)]
    (d / "CC-MAIN-x-00000.warc.wet.gz").write_bytes(b"".join(members))
    with pytest.raises(ValueError, match="lack variety"):
        variant_inputs.write_variant_inputs(d, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no \\*.warc.wet.gz"):
        variant_inputs.write_variant_inputs(tmp_path / "out", tmp_path / "out2")


# ---------------------------------------------------------------------------------------------- conf/c4_variant
VARIANT_NAMES = ["en", "en_noclean", "realnewslike", "webtextlike", "multilingual", "wikipedia", "wikipedia_tbc"]


def _variants() -> dict:
    from omegaconf import OmegaConf

    from t5repro import config

    d = config.conf_dir() / "c4_variant"
    return {p.stem: OmegaConf.to_container(OmegaConf.load(p)) for p in sorted(d.glob("*.yaml"))}


def test_variant_files_describe_d1_and_d19():
    from tensorflow_datasets.text import c4 as tfds_c4

    v = _variants()
    assert sorted(v) == sorted(VARIANT_NAMES)
    keys = {"name", "tfds_c4_config", "source", "dumps", "steps", "inputs", "paper_label", "paper_size",
            "comparable", "note"}
    for name, body in v.items():
        assert body["name"] == name and keys <= set(body), name
    # D1: webtextlike reads TFDS's 12 OpenWebText dumps (Aug 2018 - Jul 2019), the other C4 variants 2019-18
    assert set(v["webtextlike"]["dumps"]) == {f"CC-MAIN-{d}" for d in tfds_c4.OPENWEBTEXT_CC_VERSIONS}
    assert len(v["webtextlike"]["dumps"]) == 12
    for name in ("en", "en_noclean", "realnewslike", "multilingual"):
        assert v[name]["dumps"] == ["CC-MAIN-2019-18"], name
    for name in ("wikipedia", "wikipedia_tbc"):
        assert v[name]["source"] == "tfds" and v[name]["dumps"] == [] and v[name]["tfds_sources"]
    assert {b["tfds_c4_config"] for b in v.values()} - {None} == {
        "en", "en.noclean", "realnewslike", "webtextlike", "multilingual"}
    assert v["en_noclean"]["steps"] == {"realnews_filter": False, "webtext_filter": False, "clean": False,
                                        "dedup": False, "langdetect": True, "badwords": False}
    assert [n for n, b in v.items() if not b["comparable"]] == ["wikipedia_tbc"]  # Q4


def test_variant_paper_labels_are_table08_rows(data_dir):
    """paper_label / paper_size are copied from Table 8 (reference only); every Table 8 row has a variant."""
    import csv

    table = data_dir.parent / "paper" / "table08_pretraining_datasets.csv"  # io.paper_dir's default
    with open(table, newline="", encoding="utf-8") as f:
        rows = {r["label"]: r["size"] for r in csv.DictReader(f)}
    v = _variants()
    labelled = {b["paper_label"]: b["paper_size"] for b in v.values() if b["paper_label"] is not None}
    assert labelled == rows and len(rows) == 6
