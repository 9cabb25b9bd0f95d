"""Paper-scale downloads (stage `download`): Common Crawl WET files, C4's external resources, TFDS tasks,
and the inputs of the §3.4.1 / Table 8 variants (`realnews_domains`, `openwebtext`, `tfds_corpus`).

Never used by tests or the smoke run (no network there). Every file is written atomically and checked
(sha256 where the spec pins one, gzip integrity for WET files) before it is renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import time
import urllib.request
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from t5repro import io as io_lib
from t5repro import log as log_lib
from t5repro.config import ConfigError, require, require_path

logger = logging.getLogger(__name__)

# sha256 of the NLTK punkt_tab English parameter files (same as shared/data/.../punkt_tab/SHA256).
PUNKT_TAB_SHA256 = {
    "english/abbrev_types.txt": "92a3e070f43d9b4c5534758ca40ad7343b04e7e29bfe0c2eb658a39445a4f779",
    "english/collocations.tab": "8e2da1225e4dd2cc9dba261ee231ccb134859e21b46006e7f472c5ee269af0cf",
    "english/ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "english/sent_starters.txt": "f3f8535483e1dba487241b764945168123bca3209a9645e59acd1225dc76edac",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: Path, *, expected_sha256: str | None = None, retries: int = 3) -> Path:
    """Download `url` to `dest` atomically, retrying transient failures; verify sha256 when given."""
    for attempt in range(1, retries + 1):
        try:
            with io_lib.atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=120) as r, open(tmp, "wb") as f:
                    shutil.copyfileobj(r, f, length=1 << 20)
                if expected_sha256 and (got := sha256(tmp)) != expected_sha256:
                    raise ValueError(f"{url}: sha256 {got} != expected {expected_sha256}")
            return dest
        except (OSError, ValueError) as e:
            if attempt == retries:
                raise ValueError(f"download of {url} failed after {retries} tries: {e}") from None
            logger.warning("download of %s failed (%s); retry %d/%d", url, e, attempt, retries)
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def check_gzip(path: Path) -> None:
    """Read a gzip file to its end; a truncated download raises ValueError naming the file."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a complete gzip file ({e})") from None


def wet_paths(cfg: DictConfig) -> None:
    d = cfg.download
    fetch(f"{d.common_crawl_url}/crawl-data/{d.dump}/wet.paths.gz", require_path(cfg, "io.out"), retries=d.retries)


def shard_paths(all_paths: list[str], shard: int, per_shard: int, expected_files: int | None) -> list[str]:
    """The WET paths of one download shard, without TFDS's known-corrupt files (spec D2).

    `expected_files` is the count the workflow planned its shards with (conf/workflow.yaml): a list longer
    than that would leave files in no shard, so it is an error; a shard past the end of a shorter list is
    empty (the planned count is an upper bound for dumps whose exact size is not configured).
    """
    from t5repro.c4.pipeline import known_corrupt_names

    if expected_files is not None and len(all_paths) > expected_files:
        raise ConfigError(f"wet.paths.gz lists {len(all_paths)} WET files, more than the {expected_files} planned "
                          "(scales.paper.wet_files in conf/workflow.yaml): raise it so that no file is left out")
    skip = known_corrupt_names()
    return [p for p in all_paths[shard * per_shard:(shard + 1) * per_shard] if Path(p).name not in skip]


def wet_shard(cfg: DictConfig) -> None:
    """Download WET files [shard*N, (shard+1)*N) of the dump's list into one folder (spec D2).

    A file that is still not complete gzip after `download.retries` attempts is left out and listed in
    `skipped_wet_files.json` (D2: reported and skipped); the c4 jobs then see the rest of the shard.
    """
    d = cfg.download
    shard, n = int(require(cfg, "download.shard")), int(d.files_per_shard)
    with gzip.open(require_path(cfg, "io.wet_paths"), "rt") as f:
        listed = [line.strip() for line in f if line.strip()]
    expected = OmegaConf.select(cfg, "download.expected_files", default=None)
    paths = shard_paths(listed, shard, n, None if expected is None else int(expected))
    if not paths:
        logger.warning("download.shard=%d is past the end of the %d-file WET list: empty shard", shard, len(listed))
    skipped = []
    with io_lib.atomic_dir(require_path(cfg, "io.out")) as tmp:
        for rel in log_lib.progress(paths, total=len(paths), desc=f"WET shard {shard}", unit="file"):
            dest = tmp / Path(rel).name
            for attempt in range(1, int(d.retries) + 1):
                fetch(f"{d.common_crawl_url}/{rel}", dest, retries=d.retries)
                try:
                    check_gzip(dest)
                    break
                except ValueError as e:
                    logger.warning("%s (attempt %d/%d)", e, attempt, d.retries)
                    dest.unlink()
            else:
                skipped.append({"file": rel, "reason": "not complete gzip after download retries"})
        (tmp / "skipped_wet_files.json").write_text(json.dumps(skipped, indent=1) + "\n")


def c4_resources(cfg: DictConfig) -> None:
    """The LDNOOBW `en` list TFDS pins and NLTK punkt_tab English, in the layout of shared/data."""
    import nltk

    d = cfg.download
    with io_lib.atomic_dir(require_path(cfg, "io.out")) as tmp:
        fetch(d.ldnoobw_url, tmp / "ldnoobw" / "en", expected_sha256=d.ldnoobw_sha256, retries=d.retries)
        target = tmp / "nltk_data"
        if not nltk.download("punkt_tab", download_dir=str(target), quiet=True):
            raise ValueError("nltk.download('punkt_tab') failed")
        punkt = target / "tokenizers" / "punkt_tab"
        for rel, digest in PUNKT_TAB_SHA256.items():
            if sha256(punkt / rel) != digest:
                raise ValueError(f"{punkt / rel}: sha256 differs from the pinned punkt_tab English files")


def tfds(cfg: DictConfig) -> None:
    """Download and prepare the TFDS dataset behind `task` (paper-scale downstream tasks)."""
    import tensorflow_datasets as tfds_lib

    name = require(cfg, "task.tfds_name")
    tfds_lib.builder(name, data_dir=str(require_path(cfg, "io.tfds_dir"))).download_and_prepare()


# ---------------------------------------------------------------------------------------------- §3.4.1 variants
def _variant(cfg: DictConfig, key: str, default=None):
    """`c4_variant.<key>` (conf/c4_variant/*.yaml), or `default` when no variant file sets it."""
    value = OmegaConf.select(cfg, f"c4_variant.{key}", default=None)
    return default if value is None else value


def realnews_domains(cfg: DictConfig) -> None:
    """Spec D1/D6: grover's `domain_to_allowed_subdomains.json` @ 38f7184, sha256-checked, plus manifest.json."""
    from t5repro.c4 import realnews

    d = cfg.download
    url = _variant(cfg, "realnews_domains.url", realnews.DOMAINS_URL)
    digest = _variant(cfg, "realnews_domains.sha256", realnews.DOMAINS_SHA256)
    out = require_path(cfg, "io.out")
    with io_lib.atomic_dir(out) as tmp:
        path = fetch(url, tmp / realnews.DOMAINS_FILE, expected_sha256=digest, retries=d.retries)
        info = realnews.manifest(path)
        info["domains"]["path"] = str(out / realnews.DOMAINS_FILE)
        io_lib.write_json(tmp / "manifest.json", io_lib.run_metadata(
            {"stage": "download", "what": "realnews_domains", "url": url, **info}))


def _openwebtext_candidates(cfg: DictConfig) -> list[Path]:
    from t5repro.c4 import webtext

    out = []
    if (manual := _variant(cfg, "openwebtext.manual_path")) is not None:
        out.append(Path(str(manual)))
    if (tfds_dir := OmegaConf.select(cfg, "io.tfds_dir", default=None)) is not None:
        out.append(Path(str(tfds_dir)) / "downloads" / "manual" / webtext.ZIP_NAME)  # TFDS's manual_dir
    return out


def openwebtext(cfg: DictConfig) -> None:
    """Spec D1/D8: OpenWebText's URL lists, a manual download (as in TFDS c4/webtextlike).

    Looks for OpenWebText.zip at `c4_variant.openwebtext.manual_path`, then in TFDS's manual folder under
    `io.tfds_dir`; extracts `OpenWebText/Version 1/URLs/*.txt` into `io.out` (the folder the webtextlike
    build reads) with a manifest.json (zip sha256, file and URL counts). A missing zip is an error that says
    where to get it and where to put it.
    """
    import zipfile

    from t5repro.c4 import webtext

    candidates = _openwebtext_candidates(cfg)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        where = ", ".join(map(str, candidates)) or "nowhere (no path configured)"
        put = candidates[0] if candidates else Path("<io.tfds_dir>/downloads/manual") / webtext.ZIP_NAME
        raise FileNotFoundError(
            f"{webtext.ZIP_NAME} not found (looked at: {where}). It is a manual download, as in TFDS "
            f"c4/webtextlike: download {webtext.ZIP_NAME} (the OpenWebText URL lists, {webtext.URL_FILE_PATTERN}) "
            f"from {webtext.MANUAL_URL} and put it at {put}, or pass c4_variant.openwebtext.manual_path=<path> "
            f"(or set T5REPRO_OPENWEBTEXT_ZIP) with c4_variant=webtextlike")
    out = require_path(cfg, "io.out")
    with io_lib.atomic_dir(out) as tmp:
        if not zipfile.is_zipfile(found):
            raise ValueError(f"{found}: not a zip file (expected {webtext.ZIP_NAME})")
        with zipfile.ZipFile(found) as zf:
            members = sorted(n for n in zf.namelist() if webtext.is_url_file(n))
            if not members:
                raise ValueError(f"{found}: no member matches {webtext.URL_FILE_PATTERN}")
            for name in members:
                dest = tmp / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(zf.read(name))
        raw = sum(1 for _ in webtext.iter_openwebtext_urls(tmp))
        io_lib.write_json(tmp / "manifest.json", io_lib.run_metadata({
            "stage": "download", "what": "openwebtext", "zip": str(found), "zip_sha256": sha256(found),
            "source": webtext.MANUAL_URL, "url_files": len(members), "urls": raw,
            "normalized_urls": len(webtext.load_openwebtext_urls(tmp)),
        }))


def tfds_corpus(cfg: DictConfig) -> None:
    """§3.4.1 Wikipedia / Wikipedia + TBC: prepare `c4_variant.tfds_sources` in io.tfds_dir (TFDS), export them
    to io.out in the C4 layout ({train,validation}-NNNNN-of-NNNNN.jsonl.gz, records {url, text})."""
    from t5repro.c4 import tfds_corpus as tc

    sources = _variant(cfg, "tfds_sources")
    if not sources:
        raise ConfigError("download.what=tfds_corpus needs c4_variant.tfds_sources "
                          "(pass c4_variant=wikipedia or c4_variant=wikipedia_tbc)")
    parsed = [tc.TfdsSource.from_cfg(OmegaConf.to_container(s, resolve=True)) for s in sources]
    tc.build_corpus(parsed, require_path(cfg, "io.tfds_dir"), require_path(cfg, "io.out"),
                    int(require(cfg, "c4_variant.export_num_shards")),
                    validation_one_in=int(require(cfg, "c4.validation_one_in")),
                    manifest_extra={"variant": str(require(cfg, "c4_variant.name")),
                                    "comparable": bool(_variant(cfg, "comparable", True)),
                                    "note": str(_variant(cfg, "note", ""))})


WHAT = {"wet_paths": wet_paths, "wet_shard": wet_shard, "c4_resources": c4_resources, "tfds": tfds,
        "realnews_domains": realnews_domains, "openwebtext": openwebtext, "tfds_corpus": tfds_corpus}


def run(cfg: DictConfig) -> None:
    what = require(cfg, "download.what")
    if what not in WHAT:
        raise ConfigError(f"download.what={what!r}; expected one of {sorted(WHAT)}")
    WHAT[what](cfg)
