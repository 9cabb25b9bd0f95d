"""Paper-scale downloads (stage `download`): Common Crawl WET files, C4's external resources, TFDS tasks.

Never used by tests or the smoke run (no network there). Every file is written atomically and checked
(sha256 where the spec pins one, gzip integrity for WET files) before it is renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import time
import urllib.request
from pathlib import Path

from omegaconf import DictConfig

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


def wet_shard(cfg: DictConfig) -> None:
    """Download WET files [shard*N, (shard+1)*N) of the dump's list into one folder (spec D2)."""
    d = cfg.download
    shard, n = int(require(cfg, "download.shard")), int(d.files_per_shard)
    with gzip.open(require_path(cfg, "io.wet_paths"), "rt") as f:
        paths = [line.strip() for line in f if line.strip()][shard * n:(shard + 1) * n]
    if not paths:
        raise ConfigError(f"download.shard={shard} is past the end of the WET list")
    with io_lib.atomic_dir(require_path(cfg, "io.out")) as tmp:
        for rel in log_lib.progress(paths, total=len(paths), desc=f"WET shard {shard}", unit="file"):
            dest = tmp / Path(rel).name
            fetch(f"{d.common_crawl_url}/{rel}", dest, retries=d.retries)
            check_gzip(dest)


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


WHAT = {"wet_paths": wet_paths, "wet_shard": wet_shard, "c4_resources": c4_resources, "tfds": tfds}


def run(cfg: DictConfig) -> None:
    what = require(cfg, "download.what")
    if what not in WHAT:
        raise ConfigError(f"download.what={what!r}; expected one of {sorted(WHAT)}")
    WHAT[what](cfg)
