"""Smoke-scale stand-ins for the external inputs of the `realnewslike` (D6) and `webtextlike` (D8) variants.

At paper scale these are grover's `domain_to_allowed_subdomains.json` and OpenWebText's URL lists
(`t5repro download download.what=realnews_domains|openwebtext`). At smoke scale nothing is downloaded: this
module derives both from the URLs of the generated WET files (`t5repro.c4.wetgen`), in the same formats, so
that the filters have pages to keep and pages to drop:

    out_dir/realnews/domain_to_allowed_subdomains.json
    out_dir/openwebtext/OpenWebText/Version 1/URLs/0000.txt
    out_dir/manifest.json

RealNews map: a deterministic subset (about 60 %) of the main domains seen; about a third of the chosen
domains get a list value (the grover format for "only these subdomains"), alternating between allowing the
bare domain (`""`) and `www`, plus a `news` subdomain no page uses; the others get `true` (any subdomain).
Two real grover entries that no smoke page uses are added as decoys. With raw URLs (paper/tfds220, D6) the
`www.` pages and the bare pages of a list domain part ways; with D7-normalised URLs (tfds310) `www.` is gone,
so `[""]` domains keep every page and `["www"]` domains none.

OpenWebText URLs: a deterministic subset (about 40 %) of the D7-normalised page URLs, each written in another
spelling that D7 maps to the same key (http/https, `www.`, a `?utm_`/`?ref`/`?feed` query, trailing slashes),
some keys twice, plus URLs no page has (OpenWebText is far larger than one crawl's overlap with it).

Both are checked before returning: each filter must keep some pages and drop others, else ValueError.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from t5repro import io as io_lib
from t5repro.c4 import realnews, webtext
from t5repro.c4.dedup import normalize_url
from t5repro.c4.wet import read_wet_file

REALNEWS_FRACTION = 0.6      # of the main domains seen, put in the map
LIST_EVERY = 3               # every 3rd chosen domain gets a list value
OPENWEBTEXT_FRACTION = 0.4   # of the normalised page URLs, put in the URL list
DECOY_DOMAINS = {"reuters.com": True, "msn.com": ["money", "news.uk"]}  # real grover entries, unused by smoke pages
URL_FILE = Path("openwebtext") / webtext.URL_FILE_PATTERN.replace("*", "0000")
DOMAINS_FILE = Path("realnews") / realnews.DOMAINS_FILE


def wet_urls(wet_dir: Path) -> tuple[list[Path], list[str]]:
    """The WET files of `wet_dir` (sorted) and the raw URLs of their valid pages (D3/D4), in file order."""
    files = sorted(Path(wet_dir).glob("*.warc.wet.gz"))
    if not files:
        raise FileNotFoundError(f"{wet_dir}: no *.warc.wet.gz files (run stage `wet` first)")
    counters: dict[str, int] = {}
    return files, [page.url for f in files for page in read_wet_file(f, counters)]


def _split(keys: list[str], fraction: float, rng: random.Random) -> list[str]:
    """A deterministic subset of `keys` (sorted first): at least one chosen and, if possible, one left out."""
    keys = sorted(keys)
    rng.shuffle(keys)
    n = min(max(1, round(fraction * len(keys))), max(1, len(keys) - 1))
    return sorted(keys[:n])


def _main_domains(urls: list[str]) -> dict[str, set[str]]:
    """Spec D6 main domain (tldextract domain + "." + suffix) -> the subdomains seen with it."""
    extract = realnews.offline_extractor()
    subdomains: dict[str, set[str]] = {}
    for url in urls:
        ext = extract(url)
        subdomains.setdefault(ext.domain + "." + ext.suffix, set()).add(ext.subdomain)
    return subdomains


def realnews_map(urls: list[str], seed: int = 0) -> dict:
    """The smoke `domain_to_allowed_subdomains.json` content for these page URLs (see module docstring)."""
    subdomains = _main_domains(urls)
    chosen = _split(list(subdomains), REALNEWS_FRACTION, random.Random(f"realnews-{seed}"))
    # list values go first to domains that show more than one subdomain, so a list both keeps and drops pages
    order = sorted(chosen, key=lambda d: (-len(subdomains[d]), d))
    n_lists = max(1, len(chosen) // LIST_EVERY)
    domains: dict = {}
    for i, d in enumerate(order):
        if i < n_lists:
            subs = sorted(subdomains[d])
            domains[d] = sorted({subs[i % len(subs)], "news"})
        else:
            domains[d] = True
    for d, v in DECOY_DOMAINS.items():
        domains.setdefault(d, v)
    return dict(sorted(domains.items()))


_FORMS = (
    "http://{k}", "https://www.{k}/", "https://{k}/?utm_source=reddit&utm_medium=social", "http://www.{k}?ref=reddit",
    "https://{k}?feed=rss2", "https://{k}//", "http://www.{k}/", "https://www.{k}?utm_campaign=owt",
)


def _respell(key: str, raw: set[str], rng: random.Random) -> str | None:
    """A spelling of `key` that D7 maps back to it and that no page uses (None if there is none)."""
    forms = list(_FORMS)
    rng.shuffle(forms)
    for form in forms:
        url = form.format(k=key)
        if normalize_url(url) == key and url not in raw:
            return url
    return None


def openwebtext_urls(urls: list[str], seed: int = 0) -> tuple[list[str], dict]:
    """The smoke OpenWebText URL lines for these page URLs, and counts (see module docstring)."""
    rng = random.Random(f"openwebtext-{seed}")
    raw: dict[str, set[str]] = {}
    for url in urls:
        raw.setdefault(normalize_url(url), set()).add(url)
    chosen = _split(list(raw), OPENWEBTEXT_FRACTION, rng)
    lines: list[str] = []
    counts: Counter = Counter()
    for i, key in enumerate(chosen):
        for _ in range(2 if i % 5 == 0 else 1):  # some keys twice, in two spellings: a set, not a list
            url = _respell(key, raw[key] | set(lines), rng)
            counts["respelled" if url else "as_in_crawl"] += 1
            lines.append(url or sorted(raw[key])[0])
    for j in range(max(1, len(chosen) // 10)):
        lines.append(f"https://www.reddit-linked-{seed}-{j}.example.net/story/{j}/")
        counts["not_in_crawl"] += 1
    rng.shuffle(lines)
    return lines, {"keys_seen": len(raw), "keys_chosen": len(chosen), **dict(sorted(counts.items()))}


def write_variant_inputs(wet_dir: Path, out_dir: Path, seed: int = 0) -> dict:
    """Write the smoke RealNews map and OpenWebText URL list for the WET files of `wet_dir` into `out_dir`.

    Returns (and writes as `out_dir/manifest.json`) the paths and counts, including how many of the WET pages
    each filter keeps (RealNews on raw and on D7-normalised URLs). Raises ValueError when a filter would keep
    every page or none (the WET URLs lack the variety the smoke variants need).
    """
    wet_dir, out_dir = Path(wet_dir), Path(out_dir)
    files, urls = wet_urls(wet_dir)

    domains = realnews_map(urls, seed)
    domains_path = out_dir / DOMAINS_FILE
    io_lib.write_text(domains_path, json.dumps(domains, indent=2) + "\n")
    keep_news = realnews.RealNewsFilter(realnews.load_domains(domains_path))
    verdicts = {"raw": Counter(keep_news.check(u) for u in urls),
                "normalized": Counter(keep_news.check(normalize_url(u)) for u in urls)}

    lines, owt_counts = openwebtext_urls(urls, seed)
    url_path = out_dir / URL_FILE
    io_lib.write_text(url_path, "\n".join(lines) + "\n")
    owt = webtext.load_openwebtext_urls(out_dir / "openwebtext")
    kept_owt = sum(webtext.keep(u, owt) for u in urls)

    summary = {
        "wet_dir": str(wet_dir),
        "wet_files": [f.name for f in files],
        "seed": seed,
        "pages": len(urls),
        "realnews": {
            "path": str(domains_path),
            "domains_seen": len(_main_domains(urls)),
            "entries": len(domains),
            "list_entries": sum(isinstance(v, list) for v in domains.values()),
            "verdicts": {k: dict(sorted(v.items())) for k, v in verdicts.items()},
            "tldextract": realnews.manifest()["tldextract"],
        },
        "openwebtext": {
            "path": str(out_dir / "openwebtext"),  # what webtext.load_openwebtext_urls reads
            "url_file": str(url_path),
            "lines": len(lines),
            "normalized_urls": len(owt),
            **owt_counts,
            "pages_kept": kept_owt,
            "pages_dropped": len(urls) - kept_owt,
        },
    }
    problems = [f"realnews ({k} URLs) {'keeps' if v[realnews.PASSED] else 'drops'} every page"
                for k, v in verdicts.items() if v[realnews.PASSED] in (0, len(urls))]
    if kept_owt in (0, len(urls)):
        problems.append(f"openwebtext {'drops' if kept_owt == 0 else 'keeps'} every page")
    if problems:
        raise ValueError(f"{wet_dir}: the WET URLs lack variety for the smoke variants: {'; '.join(problems)}")
    io_lib.write_json(out_dir / "manifest.json", summary)
    return summary


def run(cfg) -> None:
    """Stage `c4-variant-inputs` (smoke scale): the D6/D8 lists for io.wet_dir's pages, into io.out."""
    from t5repro import config as config_lib
    from t5repro import io as io_lib

    out = config_lib.require_path(cfg, "io.out")
    with io_lib.atomic_dir(out) as tmp:
        write_variant_inputs(config_lib.require_path(cfg, "io.wet_dir"), tmp, seed=int(cfg.seed))
