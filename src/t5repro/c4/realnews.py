"""Spec D6: the RealNews-like domain filter (TFDS c4 `realnewslike`, paper §3.4.1 / Table 8 "RealNews-like").

The allow-list is grover's `realnews/domain_to_allowed_subdomains.json` @ 38f7184 (spec D1): a JSON object
`{main domain: true | [allowed subdomain, ...]}` (5,036 entries, 201 of them lists). A URL passes iff
`tldextract(url).domain + "." + suffix` is a key and, when the key's value is a list, the extracted subdomain
is in it (any other value allows every subdomain). Nothing is lower-cased, as in TFDS `is_realnews_domain`.

Which URL the filter sees is the pipeline's choice (D6/D18): the raw URL in `paper`/`tfds220` mode (so
`www.` is a subdomain), the D7-normalised URL in `tfds310` mode (TFDS passes `page.normalized_url`).

tldextract runs offline (spec Q10): `suffix_list_urls=()` and `cache_dir=None` make it use the public-suffix
snapshot bundled with the pinned package and never open a connection or write a cache. The reference
(TFDS, grover) used whatever suffix list tldextract fetched at build time; `manifest()` records the package
version and the snapshot's sha256 so a build says which list it used.
"""

from __future__ import annotations

import hashlib
import json
import pkgutil
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

GROVER_COMMIT = "38f7184bd87237ae2d3bc330b99f1e2e246f6d51"  # spec D1
DOMAINS_FILE = "domain_to_allowed_subdomains.json"
DOMAINS_URL = f"https://raw.githubusercontent.com/rowanz/grover/{GROVER_COMMIT}/realnews/{DOMAINS_FILE}"
DOMAINS_SHA256 = "75681899371acbf57b502ca8be48b3ca2d3339a276c396f3001b6a14da691ff3"  # git blob @ 38f7184

# TFDS `is_realnews_domain` counter names (namespace "realnews-domain-filter"), for the D24 manifest.
PASSED = "passed"
BAD_DOMAIN = "filtered:bad_domain"
BAD_SUBDOMAIN = "filtered:bad_subdomain"
INCLUDE_PSL_PRIVATE_DOMAINS = False  # the default of `tldextract.extract`, which TFDS calls


@lru_cache(maxsize=None)
def offline_extractor() -> Callable[[str], Any]:
    """A tldextract extractor on the bundled suffix-list snapshot: no network, no cache files."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                 include_psl_private_domains=INCLUDE_PSL_PRIVATE_DOMAINS)


def load_domains(path: str | Path, *, expected_sha256: str | None = None) -> dict[str, list[str] | object]:
    """Read grover's domain map; a value is a list of allowed subdomains or anything else (= all allowed).

    Raises ValueError naming the file when it is not a JSON object of string keys, or (when given) its
    sha256 differs from `expected_sha256`.
    """
    path = Path(path)
    raw = path.read_bytes()
    if expected_sha256 is not None and (got := hashlib.sha256(raw).hexdigest()) != expected_sha256:
        raise ValueError(f"{path}: sha256 {got} != expected {expected_sha256}")
    try:
        domains = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(domains, dict):
        raise ValueError(f"{path}: expected a JSON object {{domain: true | [subdomains]}}, "
                         f"got {type(domains).__name__}")
    for key, value in domains.items():
        if isinstance(value, list) and not all(isinstance(s, str) for s in value):
            raise ValueError(f"{path}: the subdomain list of {key!r} holds a non-string")
    return domains


class RealNewsFilter:
    """Spec D6 as a predicate: `RealNewsFilter(domains)(url)` is True iff the page's (sub)domain is allowed."""

    def __init__(self, domains: Mapping[str, Any], extract: Callable[[str], Any] | None = None):
        self.domains = domains
        self.extract = extract or offline_extractor()

    @classmethod
    def from_file(cls, path: str | Path, *, expected_sha256: str | None = None) -> "RealNewsFilter":
        return cls(load_domains(path, expected_sha256=expected_sha256))

    def check(self, url: str) -> str:
        """The TFDS counter name of the verdict: "passed", "filtered:bad_domain" or "filtered:bad_subdomain"."""
        ext = self.extract(url)
        main = ext.domain + "." + ext.suffix
        if main not in self.domains:
            return BAD_DOMAIN
        allowed = self.domains[main]
        if isinstance(allowed, list) and ext.subdomain not in allowed:
            return BAD_SUBDOMAIN
        return PASSED

    def __call__(self, url: str) -> bool:
        return self.check(url) == PASSED


def manifest(domains_path: str | Path | None = None) -> dict:
    """What the filter used (spec D24, Q10): tldextract version and suffix-list snapshot, and the domain map."""
    snapshot = pkgutil.get_data("tldextract", ".tld_set_snapshot") or b""
    out: dict = {
        "tldextract": {
            "version": metadata.version("tldextract"),
            "suffix_list": "bundled snapshot (.tld_set_snapshot); suffix_list_urls=(), no network",
            "suffix_list_sha256": hashlib.sha256(snapshot).hexdigest(),
            "include_psl_private_domains": INCLUDE_PSL_PRIVATE_DOMAINS,
        },
        "grover": {"commit": GROVER_COMMIT, "url": DOMAINS_URL, "expected_sha256": DOMAINS_SHA256},
    }
    if domains_path is not None:
        path = Path(domains_path)
        domains = load_domains(path)
        out["domains"] = {
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "entries": len(domains),
            "list_entries": sum(isinstance(v, list) for v in domains.values()),
        }
    return out
