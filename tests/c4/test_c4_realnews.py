"""Spec D6: the RealNews-like domain filter, against TFDS's own `is_realnews_domain`, offline."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import socket
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from t5repro.c4 import realnews
from t5repro.c4.dedup import normalize_url

REPO = Path(__file__).resolve().parents[2]

# Entries copied from grover's map @ 38f7184 (the real format: `true` or a list of subdomains), plus made-up ones.
DOMAINS = {
    "reuters.com": True,
    "bbc.co.uk": True,
    "news.com.au": True,
    "msn.com": ["specials", "photoblog.msnbc", "money.uk", "msnbc", "money", "news.uk"],
    "gather.com": ["business", "sports", "politics", "news"],
    "rutgers.edu": ["news"],
    "allthingsd.com": ["kara", "voices"],
    "example-gazette.org": ["", "www"],
    "weird-value.net": "anything-not-a-list",
}


def write_domains(path: Path, domains: dict = DOMAINS) -> Path:
    path.write_text(json.dumps(domains, indent=2), encoding="utf-8")
    return path


@pytest.mark.parametrize("url, verdict", [
    ("https://www.reuters.com/article/x", realnews.PASSED),               # true: any subdomain
    ("http://uk.reuters.com/a?b=c", realnews.PASSED),
    ("reuters.com/article/x", realnews.PASSED),                           # a D7-normalised URL (tfds310)
    ("https://news.bbc.co.uk/2/hi/1.stm", realnews.PASSED),               # multi-label public suffix
    ("https://bbc.com/news", realnews.BAD_DOMAIN),
    ("https://www.news.com.au/x", realnews.PASSED),                       # main = news.com.au, not com.au
    ("https://money.msn.com/x", realnews.PASSED),
    ("https://photoblog.msnbc.msn.com/x", realnews.PASSED),               # nested subdomain is one string
    ("https://www.msn.com/x", realnews.BAD_SUBDOMAIN),                    # list without www
    ("msn.com/x", realnews.BAD_SUBDOMAIN),                                # normalised: subdomain "" not listed
    ("https://news.rutgers.edu/x", realnews.PASSED),
    ("https://rutgers.edu/x", realnews.BAD_SUBDOMAIN),
    ("https://example-gazette.org/x", realnews.PASSED),                   # "" listed
    ("https://www.example-gazette.org/x", realnews.PASSED),
    ("https://blog.example-gazette.org/x", realnews.BAD_SUBDOMAIN),
    ("https://any.sub.weird-value.net/x", realnews.PASSED),               # non-list value = all subdomains
    ("https://www.Reuters.COM/x", realnews.BAD_DOMAIN),                   # nothing is lower-cased (as TFDS)
    ("http://user:pw@www.reuters.com:8080/x", realnews.PASSED),
    ("http://127.0.0.1/reuters.com", realnews.BAD_DOMAIN),
    ("not a url", realnews.BAD_DOMAIN),
])
def test_filter_rules(url, verdict):
    f = realnews.RealNewsFilter(DOMAINS)
    assert f.check(url) == verdict
    assert f(url) is (verdict == realnews.PASSED)


def test_load_domains(tmp_path):
    path = write_domains(tmp_path / "d.json")
    assert realnews.load_domains(path) == DOMAINS
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert realnews.load_domains(path, expected_sha256=digest) == DOMAINS
    with pytest.raises(ValueError, match="sha256"):
        realnews.load_domains(path, expected_sha256="0" * 64)
    assert realnews.RealNewsFilter.from_file(path)("https://www.reuters.com/x")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        realnews.load_domains(tmp_path / "list.json")
    (tmp_path / "bad.json").write_text('{"a.com": ["ok", 3]}')
    with pytest.raises(ValueError, match="a.com"):
        realnews.load_domains(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text('{"a.com": ')
    with pytest.raises(ValueError, match="not a JSON file"):
        realnews.load_domains(tmp_path / "broken.json")


def test_extractor_is_offline_and_writes_no_cache(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("tldextract tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "tld"))
    realnews.offline_extractor.cache_clear()
    try:
        ext = realnews.offline_extractor()("https://forums.news.bbc.co.uk/x")
        assert (ext.subdomain, ext.domain, ext.suffix) == ("forums.news", "bbc", "co.uk")
    finally:
        realnews.offline_extractor.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_manifest_records_the_pinned_tldextract(tmp_path):
    installed = metadata.version("tldextract")
    m = realnews.manifest(write_domains(tmp_path / "d.json"))
    assert m["tldextract"]["version"] == installed
    assert re.fullmatch(r"[0-9a-f]{64}", m["tldextract"]["suffix_list_sha256"])
    assert m["grover"]["commit"] == "38f7184bd87237ae2d3bc330b99f1e2e246f6d51"  # spec D1
    assert m["domains"]["entries"] == len(DOMAINS) and m["domains"]["list_entries"] == 5
    # Q10: the version is pinned exactly, in pyproject.toml and the lock file, and is the one installed
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"tldextract=={installed}" in deps
    assert f"tldextract=={installed}" in (REPO / "requirements" / "lock.txt").read_text().splitlines()


def _generated_urls(seed: int = 0, n: int = 400) -> list[str]:
    """URLs over listed and unlisted domains, allowed, disallowed and nested subdomains, raw and normalised."""
    rng = random.Random(seed)
    mains = list(DOMAINS) + ["nytimes.com", "guardian.co.uk", "example.org", "msn.co.uk", "gather.com.au"]
    subs = ["", "www", "news", "money", "photoblog.msnbc", "kara", "voices", "sports", "blog", "a.b.c", "uk"]
    schemes = ["http://", "https://", ""]
    tails = ["", "/", "/2019/04/story.html", "/a?utm_source=x", "?ref=rss", ":8080/x", "/x#frag"]
    combos = list(itertools.product(mains, subs))
    urls = []
    for _ in range(n):
        main, sub = rng.choice(combos)
        host = f"{sub}.{main}" if sub else main
        url = rng.choice(schemes) + host + rng.choice(tails)
        urls.append(normalize_url(url) if rng.random() < 0.3 else url)
    return urls


def test_matches_tfds_is_realnews_domain(monkeypatch):
    """TFDS `is_realnews_domain` (its tldextract swapped for the offline extractor, its Beam counter for a
    recorder) and ours agree on every URL, verdict and counter name."""
    import tldextract
    from tensorflow_datasets.text import c4_utils

    counted: list[tuple[str, str]] = []
    monkeypatch.setattr(c4_utils, "get_counter_inc_fn",
                        lambda namespace: lambda counter, amt=1: counted.append((namespace, counter)))
    monkeypatch.setattr(tldextract, "extract", realnews.offline_extractor())
    ours = realnews.RealNewsFilter(DOMAINS)
    urls = _generated_urls()
    seen = set()
    for url in urls:
        counted.clear()
        page = c4_utils.PageFeatures(url=url, normalized_url=url)  # TFDS 3.1 passes page.normalized_url
        tfds_keep = c4_utils.is_realnews_domain(page, DOMAINS)
        assert counted == [("realnews-domain-filter", ours.check(url))], url
        assert tfds_keep == ours(url), url
        seen.add(ours.check(url))
    assert seen == {realnews.PASSED, realnews.BAD_DOMAIN, realnews.BAD_SUBDOMAIN}  # every branch exercised


def test_variant_file_pins_what_the_module_pins():
    from omegaconf import OmegaConf

    from t5repro import config

    v = OmegaConf.load(config.conf_dir() / "c4_variant" / "realnewslike.yaml")
    assert (v.realnews_domains.url, v.realnews_domains.sha256, v.realnews_domains.commit) == (
        realnews.DOMAINS_URL, realnews.DOMAINS_SHA256, realnews.GROVER_COMMIT)
    assert v.steps.realnews_filter is True and "realnews_domains" in v.inputs


def test_download_realnews_domains(monkeypatch, tmp_path):
    """`t5repro download download.what=realnews_domains c4_variant=realnewslike`, urlopen serving a local file."""
    import io
    import urllib.request

    from omegaconf import OmegaConf, open_dict

    from t5repro import config, download

    content = json.dumps(DOMAINS, indent=2).encode()
    requested = []

    def urlopen(url, timeout=None):
        requested.append(url)
        return io.BytesIO(content)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    cfg = config.load(["download.what=realnews_domains", f"io.out={tmp_path / 'out'}", "download.retries=1"])
    with open_dict(cfg):
        cfg.c4_variant = OmegaConf.load(config.conf_dir() / "c4_variant" / "realnewslike.yaml")
    with pytest.raises(ValueError, match="sha256"):  # the pinned digest is grover's, not this file's
        download.run(cfg)
    assert not (tmp_path / "out").exists()
    assert requested == [realnews.DOMAINS_URL]
    cfg.c4_variant.realnews_domains.sha256 = hashlib.sha256(content).hexdigest()
    download.run(cfg)
    out = tmp_path / "out"
    assert realnews.load_domains(out / realnews.DOMAINS_FILE) == DOMAINS
    m = json.loads((out / "manifest.json").read_text())
    assert m["domains"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert m["domains"]["path"] == str(out / realnews.DOMAINS_FILE)
    assert m["tldextract"]["version"] == metadata.version("tldextract") and m["url"] == realnews.DOMAINS_URL
