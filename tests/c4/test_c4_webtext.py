"""Spec D8: the WebText-like URL join, against TFDS's `filter_by_webtextlike` (CoGroupByKey emulated)."""

from __future__ import annotations

import random
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from t5repro.c4 import webtext

URL_DIR = "OpenWebText/Version 1/URLs"


def write_zip(path: Path, files: dict[str, str], extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in {**{f"{URL_DIR}/{k}": v for k, v in files.items()}, **(extra or {})}.items():
            zf.writestr(name, text.encode("utf-8"))
    return path


def write_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / URL_DIR / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode("utf-8"))
    return root


FILES = {
    "0000.txt": "https://www.example.com/story/1/\r\nhttp://news.example.org/a?utm_source=reddit\r\n\r\n",
    "0001.txt": "https://blog.example.net/post?ref=hn\nhttps://example.com/trailing-space \nhttp://www.x.io/feed/?feed=rss",
}
EXPECTED = {"example.com/story/1", "news.example.org/a", "blog.example.net/post", "example.com/trailing-space ",
            "x.io/feed"}


def test_zip_and_folder_give_the_same_normalised_set(tmp_path):
    zpath = write_zip(tmp_path / webtext.ZIP_NAME, FILES, extra={
        "OpenWebText/Version 1/README.txt": "https://not-a-url-file.com\n",
        f"{URL_DIR}/nested/0002.txt": "https://nested.com\n",
        f"{URL_DIR}/0003.csv": "https://wrong-suffix.com\n",
    })
    folder = write_folder(tmp_path / "extracted", FILES)
    (folder / "OpenWebText" / "Version 1" / "other.txt").write_text("https://ignored.com\n")
    assert webtext.load_openwebtext_urls(zpath) == EXPECTED
    assert webtext.load_openwebtext_urls(folder) == EXPECTED
    assert list(webtext.iter_openwebtext_urls(zpath)) == list(webtext.iter_openwebtext_urls(folder))
    assert list(webtext.iter_openwebtext_urls(zpath))[0] == "https://www.example.com/story/1/"  # sorted files, CRLF cut


def test_bad_inputs_are_errors_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.zip"):
        webtext.load_openwebtext_urls(tmp_path / "nowhere.zip")
    (tmp_path / "plain.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="not a zip"):
        webtext.load_openwebtext_urls(tmp_path / "plain.zip")
    with pytest.raises(ValueError, match="no member matches"):
        webtext.load_openwebtext_urls(write_zip(tmp_path / "empty.zip", {}, extra={"x.txt": "https://a.com\n"}))
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ValueError, match="no file matches"):
        webtext.load_openwebtext_urls(tmp_path / "emptydir")
    bad = write_zip(tmp_path / "latin1.zip", {})
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr(f"{URL_DIR}/0000.txt", "https://caf\xe9.com\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        webtext.load_openwebtext_urls(bad)


@pytest.mark.parametrize("page_url, kept", [
    ("http://example.com/story/1", True),
    ("https://www.example.com/story/1?utm_medium=social", True),
    ("https://example.com/story/1///", True),
    ("https://example.com/story/2", False),
    ("https://example.com/story/1?id=3", False),                  # only ?utm_/?ref/?feed queries are dropped
    ("https://www.news.example.org/a", True),
    ("https://example.com/trailing-space", False),              # the OpenWebText line kept its trailing space
    ("http://x.io/feed?feed=atom", True),
])
def test_keep(page_url, kept):
    assert webtext.keep(page_url, frozenset(EXPECTED)) is kept


def _generate(seed: int = 0) -> tuple[list[str], list[str]]:
    """Page URLs and OpenWebText URLs over shared keys, each spelled in many D7-equivalent ways."""
    rng = random.Random(seed)
    hosts = ["example.com", "news.example.org", "blog.site.net", "a.b.co.uk", "shop.io"]
    keys = [f"{h}/{p}" for h in hosts for p in ("", "2019/04/story", "post/7", "index.html", "p?id=3")]
    keys = [k.rstrip("/") for k in keys]

    def spell(key: str) -> str:
        url = rng.choice(["http://", "https://", "http://www.", "https://www."]) + key
        url += rng.choice(["", "/", "//"]) if "?" not in key else ""
        return url + rng.choice(["", "", "?utm_source=reddit", "?ref=twitter", "?feed=rss", "?page=2"])

    pages = [spell(rng.choice(keys)) for _ in range(300)]
    owt = [spell(rng.choice(keys)) for _ in range(120)]
    owt += [u + " " for u in rng.sample(owt, 5)] + [f"https://elsewhere-{i}.com/x" for i in range(10)]
    rng.shuffle(owt)
    return pages, owt


def test_matches_tfds_filter_by_webtextlike(tmp_path, monkeypatch):
    """Same kept pages as TFDS: D7 URL dedup (one page per key), then CoGroupByKey + `filter_by_webtextlike`."""
    from tensorflow_datasets.text import c4_utils

    counts: dict[str, int] = defaultdict(int)
    monkeypatch.setattr(c4_utils, "get_counter_inc_fn",
                        lambda ns: lambda counter, amt=1: counts.__setitem__(f"{ns}/{counter}", counts[f"{ns}/{counter}"] + amt))
    pages, owt = _generate()
    # D7: one page per normalised URL (which one does not matter here)
    by_key: dict[str, str] = {}
    for url in pages:
        by_key.setdefault(c4_utils.normalize_url(url), url)
    # TFDS: ReadFromText lines -> (normalize_url(url), PageFeatures()); pages -> (normalized_url, page); join
    joined: dict[str, dict[str, list]] = defaultdict(lambda: {"pages": [], "webtextlike_urls": []})
    for key, url in by_key.items():
        joined[key]["pages"].append(c4_utils.PageFeatures(url=url, normalized_url=key))
    for url in owt:
        joined[c4_utils.normalize_url(url)]["webtextlike_urls"].append(c4_utils.PageFeatures())
    tfds_kept = sorted(p.url for el in joined.items() for p in c4_utils.filter_by_webtextlike(el))

    # ours: the URL lists written as OpenWebText.zip (mixed line endings, blank lines), then keep()
    files = {"0000.txt": "\r\n".join(owt[:60]) + "\r\n\r\n", "0001.txt": "\n".join(owt[60:]) + "\n"}
    urls = webtext.load_openwebtext_urls(write_zip(tmp_path / webtext.ZIP_NAME, files))
    ours = sorted(url for url in by_key.values() if webtext.keep(url, urls))

    assert ours == tfds_kept
    assert 0 < len(ours) < len(by_key)
    assert counts["webtextlike-filter/passed"] == len(ours)
    assert counts["webtextlike-filter/missing-page"] > 0  # OpenWebText URLs with no page exist too
    assert urls == {c4_utils.normalize_url(u) for u in owt}


def _cfg(tmp_path: Path, manual_path: Path | None):
    from omegaconf import OmegaConf, open_dict

    from t5repro import config

    cfg = config.load(["download.what=openwebtext", f"io.out={tmp_path / 'out'}", f"io.tfds_dir={tmp_path / 'tfds'}"])
    with open_dict(cfg):
        cfg.c4_variant = OmegaConf.load(config.conf_dir() / "c4_variant" / "webtextlike.yaml")
        cfg.c4_variant.openwebtext.manual_path = None if manual_path is None else str(manual_path)
    return cfg


def test_variant_file_matches_tfds_constants():
    from omegaconf import OmegaConf

    from t5repro import config

    v = OmegaConf.load(config.conf_dir() / "c4_variant" / "webtextlike.yaml").openwebtext
    assert (v.zip_name, v.manual_url, v.file_pattern) == (webtext.ZIP_NAME, webtext.MANUAL_URL, webtext.URL_FILE_PATTERN)


def test_download_openwebtext_missing_zip_says_where_to_get_and_put_it(tmp_path):
    from t5repro import download

    with pytest.raises(FileNotFoundError) as e:
        download.run(_cfg(tmp_path, tmp_path / "manual" / webtext.ZIP_NAME))
    msg = str(e.value)
    assert webtext.MANUAL_URL in msg and str(tmp_path / "manual" / webtext.ZIP_NAME) in msg
    assert str(tmp_path / "tfds" / "downloads" / "manual" / webtext.ZIP_NAME) in msg
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["manual_path", "tfds_manual_dir"])
def test_download_openwebtext_extracts_the_url_lists(tmp_path, where):
    import json

    from t5repro import download

    if where == "manual_path":
        zpath = write_zip(tmp_path / "my.zip", FILES)
        cfg = _cfg(tmp_path, zpath)
    else:
        (tmp_path / "tfds" / "downloads" / "manual").mkdir(parents=True)
        zpath = write_zip(tmp_path / "tfds" / "downloads" / "manual" / webtext.ZIP_NAME, FILES)
        cfg = _cfg(tmp_path, None)
    download.run(cfg)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / URL_DIR).iterdir()) == sorted(FILES)
    assert webtext.load_openwebtext_urls(out) == webtext.load_openwebtext_urls(zpath) == EXPECTED
    m = json.loads((out / "manifest.json").read_text())
    assert (m["zip"], m["url_files"], m["urls"], m["normalized_urls"]) == (str(zpath), 2, 5, 5)


def test_url_digest_set_is_the_same_set():  # spec D8, with 16 bytes a URL
    import random

    rng = random.Random(0)
    urls = [f"site{rng.randrange(500)}.org/p/{rng.randrange(3000)}" for _ in range(5000)]
    compact = webtext.UrlDigestSet(urls + urls[:100])  # duplicates collapse
    assert len(compact) == len(set(urls))
    probes = urls[::7] + [f"other{i}.org/x" for i in range(500)] + ["", "site1.org/p/1/"]
    assert [p in compact for p in probes] == [p in set(urls) for p in probes]
    assert "x" not in webtext.UrlDigestSet([])
