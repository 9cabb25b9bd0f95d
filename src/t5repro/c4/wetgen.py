"""Stage `wet` (smoke scale): write small, real, gzip'd Common Crawl WET files from the bundled texts.

Every file is a genuine WARC/1.0 WET file (one gzip member per record, like Common Crawl): a leading
`warcinfo` record, then `wet.pages_per_file` `conversion` records with the headers Common Crawl writes. The
pages are composed deterministically (seed `wet.seed`) from the original texts in `texts/` and are mixed so
that every C4 rule of spec data.md §1 has work to do: good English pages, boilerplate lines (navigation,
cookies, JavaScript, citations, ellipses), page killers (lorem ipsum, `{`, bad words, too few sentences,
> 190,000 characters), duplicated lines and sentence windows across pages (D12/D13), duplicate URLs after
normalisation (D7), the WET-parser quirks of D3, and German, French and Romanian pages (D14, D30).

Bad words (D11/D15): the generator must not depend on `io.data_dir`, so the three words it needs are built
from character codes below (all three are entries of the LDNOOBW `en` list; a test checks that).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro import log as log_lib

logger = logging.getLogger(__name__)

TEXTS = Path(__file__).resolve().parent / "texts"
FILE_PATTERN = "CC-MAIN-smoke-{i:05d}.warc.wet.gz"
_BASE_TIME = datetime(2019, 4, 18, tzinfo=timezone.utc)  # the April 2019 crawl (CC-MAIN-2019-18, D1)

# Built from character codes so that no offensive word is spelled out in the source (see module docstring).
BADWORDS = tuple("".join(map(chr, codes)) for codes in (
    (98, 111, 108, 108, 111, 99, 107, 115),
    (98, 117, 108, 108, 115, 104, 105, 116),
    (98, 97, 115, 116, 97, 114, 100),
))

# Page kinds that appear once in every file (when pages_per_file allows), so that even a tiny smoke run
# exercises every rule; the rest of a file is drawn from _WEIGHTED_KINDS.
SPECIAL_KINDS = (
    "lorem", "curly", "badword", "badword_line_start", "toofew", "huge", "dup_url_old", "dup_url_new",
    "weekly", "warc_in_body", "empty", "long_token", "mixed_lang", "local_dup", "de", "fr", "ro",
)
_WEIGHTED_KINDS = (("en", 76), ("syndicated", 9), ("de", 5), ("fr", 5), ("ro", 5))


@dataclass(frozen=True)
class PageSpec:
    """One conversion record to write: raw URL, WARC-Date and the body lines."""

    url: str
    date: str
    lines: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- texts
@lru_cache(maxsize=None)
def _paragraphs(lang: str) -> tuple[str, ...]:
    """The bundled paragraphs of one language (blank-line separated blocks, one line each)."""
    raw = (TEXTS / f"{lang}.txt").read_text(encoding="utf-8")
    return tuple(" ".join(block.split()) for block in raw.split("\n\n") if block.strip())


@lru_cache(maxsize=None)
def _lexicon() -> dict:
    return json.loads((TEXTS / "en_lexicon.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _templates() -> tuple[str, ...]:
    return tuple(t for t in (TEXTS / "en_templates.txt").read_text(encoding="utf-8").splitlines() if t.strip())


_SLOT = re.compile(r"\{(\w+?)\d?\}")
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


class Composer:
    """Deterministic English sentence composer: a template filled from the lexicon, on one topic."""

    def __init__(self, rng: random.Random, topic: str):
        self.rng = rng
        self.topic = topic
        self.lex = _lexicon()
        self.t = self.lex["topics"][topic]

    def _fill(self, slot: str) -> str:
        r, lex, t = self.rng, self.lex, self.t
        if slot in ("n", "ns"):
            return r.choice(t[slot])
        if slot in ("v", "ved", "ving"):
            return r.choice(t["v"])[("v", "ved", "ving").index(slot)]
        if slot == "tadj":
            return r.choice(t["adj"])
        return r.choice(lex[slot])

    def sentence(self) -> str:
        s = _SLOT.sub(lambda m: self._fill(m.group(1)), self.rng.choice(_templates()))
        s = _ARTICLE.sub(r"\1n ", s)  # "a orchard" -> "an orchard"
        i = 1 if s.startswith('"') else 0
        return s[:i] + s[i].upper() + s[i + 1:]

    def paragraph(self, lo: int = 2, hi: int = 5) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(lo, hi)))

    def title(self) -> str:
        r = self.rng
        return f"{self.topic.title()}: {r.choice(self.t['adj']).title()} {r.choice(self.t['ns']).title()} in {r.choice(self.lex['place'])}"


# ---------------------------------------------------------------------------------------------- sites
@dataclass(frozen=True)
class Site:
    domain: str
    topic: str
    name: str


def _sites(seed: int, n: int = 40) -> list[Site]:
    """A fixed set of small websites; pages of one site share a footer line (dedup material)."""
    rng = random.Random(f"sites-{seed}")
    lex = _lexicon()
    out = []
    for k in range(n):
        topic = rng.choice(sorted(lex["topics"]))
        place = rng.choice(lex["place"]).replace("the ", "")
        word = rng.choice(lex["site_word"])
        slug = re.sub(r"[^a-z0-9]+", "-", f"{place} {topic} {word}".lower()).strip("-")
        out.append(Site(f"{slug}{k}.{rng.choice(lex['tld'])}", topic, f"{place} {topic.title()} {word.title()}"))
    return out


def _date(rng: random.Random, day_offset: int | None = None) -> str:
    """A WARC-Date within the crawl week (or on a given day), ISO 8601 with Z like Common Crawl."""
    if day_offset is None:
        t = _BASE_TIME + timedelta(seconds=rng.randrange(8 * 86400))
    else:
        t = _BASE_TIME + timedelta(days=day_offset, seconds=rng.randrange(3600))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(rng: random.Random, site: Site, slug: str) -> str:
    scheme = rng.choice(["http://", "https://", "https://www.", "http://www."])
    return f"{scheme}{site.domain}/{rng.choice(['2018', '2019'])}/{rng.randint(1, 12):02d}/{slug}"


# ---------------------------------------------------------------------------------------------- pages
def _english_lines(rng: random.Random, site: Site, comp: Composer, n_par: tuple[int, int] = (3, 6)) -> list[str]:
    """Body lines of an ordinary English page: real paragraphs plus the web's usual boilerplate."""
    lines = [comp.title()]
    if rng.random() < 0.5:
        lines.append("Home | About | Archive | Contact")  # D9 d: no end mark
    lines.append(f"Posted by {rng.choice(comp.lex['name'])} on {rng.choice(comp.lex['month'])} {rng.randint(1, 28)}, 2019")
    for _ in range(rng.randint(*n_par)):
        par = comp.paragraph()
        u = rng.random()
        if u < 0.10:  # D9 c: citation marker inside the line, line kept
            par = par.replace(". ", f".[{rng.randint(1, 9)}] ", 1)
        elif u < 0.14:  # D9 c then d: trailing marker leaves a trailing space, line dropped
            par = f"{par} [{rng.randint(1, 9)}]"
        elif u < 0.16:
            par = par.replace(". ", ".[citation needed] ", 1)
        lines.append(par)
        if rng.random() < 0.08:
            lines.append(f"{comp.topic.title()} tips[edit]")  # D9 c, then d
    r = rng.random
    if r() < 0.35:
        lines.append("Read more...")  # D9 d: ellipsis
    if r() < 0.10:
        lines.append(f"And then, just as {rng.choice(comp.lex['name'])} had predicted, the weather turned\u2026")  # … is no end mark
    if r() < 0.06:
        lines.append(f'{rng.choice(comp.lex["name"])} only said, "we will see how the {rng.choice(comp.t["ns"])} do..."')  # ..." passes d
    if r() < 0.25:
        lines.append("Please enable JavaScript in your browser to see the comments below.")  # D9 g
    if r() < 0.30:
        lines.append(rng.choice([
            "This website uses cookies to give you the best experience on our pages.",
            "By continuing to browse you agree to our terms of use and privacy policy.",
            "Read our cookie policy to learn how we use cookies on this site.",
        ]))  # D9 i
    if r() < 0.10:
        lines.append("function toggleMenu() { menu.open = !menu.open; }")  # D9 d drops it before h: page lives
    if r() < 0.05:
        lines.append(f"Content-wise, the {rng.choice(comp.t['n'])} section of this site is the one we are proudest of.")  # D3 quirk
    if r() < 0.30:
        lines.append("Thanks for reading.")  # D9 e: three words
    lines.append(f"Thank you for visiting {site.name}, where we write about {site.topic} every week.")  # dup across site
    lines.append(f"Share this: Facebook, Twitter, Email | Copyright 2019 {site.name}")
    return lines


def _quote_of_the_week(seed: int, week: int) -> str:
    """Three fixed sentences shared by several pages inside different lines: D12 window material."""
    comp = Composer(random.Random(f"quote-{seed}-{week}"), "books")
    return " ".join(comp.sentence() for _ in range(3))


def _foreign_lines(rng: random.Random, lang: str) -> list[str]:
    pars = list(_paragraphs(lang))
    rng.shuffle(pars)
    heading = {"de": "Startseite | Über uns | Kontakt", "fr": "Accueil | À propos | Contact", "ro": "Acasă | Despre noi | Contact"}
    return [heading[lang]] + pars[: rng.randint(3, 5)]


def compose_page(kind: str, rng: random.Random, *, seed: int, file_index: int, page_index: int,
                 sites: list[Site]) -> list[PageSpec]:
    """The record(s) of one page kind (a kind may add a second record, e.g. the D7 duplicate-URL pair)."""
    site = rng.choice(sites)
    comp = Composer(rng, site.topic)
    slug = f"{site.topic}-{kind.replace('_', '-')}-{file_index}-{page_index}"
    url, date = _url(rng, site, slug), _date(rng)
    bad = BADWORDS[page_index % len(BADWORDS)]

    if kind in ("de", "fr", "ro"):
        return [PageSpec(url, date, tuple(_foreign_lines(rng, kind)))]
    if kind == "empty":
        return [PageSpec(url, date, ())]  # D4: url but no text
    if kind == "mixed_lang":
        en = [comp.sentence() + " " + comp.sentence() for _ in range(3)]
        de = list(_paragraphs("de"))[:3]
        return [PageSpec(url, date, tuple(x for pair in zip(en, de) for x in pair))]
    if kind == "toofew":  # D10: two sentences survive cleaning
        return [PageSpec(url, date, (comp.title(), "Home | About | Contact", comp.sentence() + " " + comp.sentence(),
                                     "Read more...", "Share this page."))]
    if kind == "huge":  # D5: more than 190,000 characters
        lines = [comp.title()]
        while sum(map(len, lines)) < 192_000:
            lines.append(comp.paragraph(4, 8))
        return [PageSpec(url, date, tuple(lines))]
    if kind == "weekly":  # D7 across files: same URL in every file, the newest timestamp (last file) wins
        weekly = Site("weekly-digest.example.org", site.topic, "The Weekly Digest")
        lines = _english_lines(rng, weekly, comp)
        return [PageSpec(f"https://weekly-digest.example.org/this-week/?ref=file{file_index}", _date(rng, file_index), tuple(lines))]

    lines = _english_lines(rng, site, comp)
    mid = len(lines) // 2
    if kind == "en" and rng.random() < 0.12:  # a 3-sentence window shared inside different lines (D12)
        lines[mid] = f"{comp.sentence()} {_quote_of_the_week(seed, rng.randrange(4))} {comp.sentence()}"
    elif kind == "syndicated":  # a whole paragraph copied between pages (D12 and D13)
        lines.insert(mid, rng.choice(_paragraphs("en")))
    elif kind == "lorem":
        lines.insert(mid, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.")
    elif kind == "curly":
        lines.insert(mid, "Use the {name} field in every template you write for the club.")
    elif kind == "badword":  # D11 and D15 both match
        lines.insert(mid, f"At the meeting my neighbour called the new bypass plan a load of {bad} and sat down.")
    elif kind == "badword_line_start":  # D11 quirk: no character before the word, so paper/tfds220 keep the page
        lines.insert(mid, f"{bad.capitalize()} was the word on everyone's lips after the council voted again.")
    elif kind == "long_token":  # D9 b (tfds modes only)
        token = base64.b32encode(hashlib.sha512(slug.encode()).digest() * 20).decode().lower()[:1200]
        lines.insert(mid, f"The download key for this archive is {token}.")
    elif kind == "local_dup":  # the same line twice on one page (D12 quirk, D13 2.2.0 vs 3.x)
        lines.insert(mid, lines[mid - 1] if lines[mid - 1][-1:] == "." else comp.paragraph())
        lines.insert(mid + 2, lines[mid])
    elif kind == "warc_in_body":  # D3 quirks: header capture and WARC/1.0 inside a body
        lines[mid:mid] = ["Content-Type: application/warc",
                          "Web archives store each capture after a line that reads exactly like this one:",
                          "WARC/1.0", comp.paragraph(3, 4), comp.paragraph(3, 4)]
    elif kind in ("dup_url_old", "dup_url_new"):  # D7: same page under two spellings of its URL
        path = f"{site.domain}/archive/{slug.rsplit('-', 2)[0]}-{file_index}-{page_index}"
        if kind == "dup_url_old":
            old = PageSpec(f"http://www.{path}", _date(rng, 0), tuple(lines))
            new_lines = _english_lines(rng, site, comp)
            new = PageSpec(f"https://{path}/?utm_source=newsletter&utm_medium=email", _date(rng, 5), tuple(new_lines))
            return [old, new]
        return [PageSpec(f"https://{path}/", _date(rng, 2), tuple(lines)),
                PageSpec(f"http://{path}?feed=rss2", _date(rng, 1), tuple(_english_lines(rng, site, comp)))]
    return [PageSpec(url, date, tuple(lines))]


def plan_file(seed: int, file_index: int, pages_per_file: int) -> list[str]:
    """The kinds of the pages of one file: every special kind once (if room), the rest drawn by weight."""
    rng = random.Random(f"plan-{seed}-{file_index}")
    specials = list(SPECIAL_KINDS[:pages_per_file])
    kinds, weights = zip(*_WEIGHTED_KINDS)
    rest = rng.choices(kinds, weights=weights, k=pages_per_file - len(specials))
    plan = specials + rest
    rng.shuffle(plan)
    return plan


def file_pages(seed: int, file_index: int, pages_per_file: int) -> list[PageSpec]:
    """All conversion records of one file, in order (exactly pages_per_file records)."""
    sites = _sites(seed)
    out: list[PageSpec] = []
    for page_index, kind in enumerate(plan_file(seed, file_index, pages_per_file)):
        rng = random.Random(f"page-{seed}-{file_index}-{page_index}")
        out += compose_page(kind, rng, seed=seed, file_index=file_index, page_index=page_index, sites=sites)
    return out[:pages_per_file]


# ---------------------------------------------------------------------------------------------- WARC
def _record_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def _block_digest(body: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def _write_record(writer: WARCWriter, rec_type: str, headers: list[tuple[str, str]], body: bytes,
                  uri: str = "") -> None:
    """One gzip member: the WARC headers in Common Crawl's order; warcio adds Content-Length and digests."""
    headers = headers + [("WARC-Block-Digest", _block_digest(body)), ("Content-Length", str(len(body)))]
    rec = writer.create_warc_record(uri, rec_type, payload=io.BytesIO(body), length=len(body),
                                    warc_headers=StatusAndHeaders("WARC/1.0", headers))
    writer.write_record(rec)


def write_wet_file(path: Path, file_index: int, pages: list[PageSpec], seed: int) -> None:
    """Write one WET file atomically: warcinfo record, then one conversion record per page."""
    rng = random.Random(f"ids-{seed}-{file_index}")
    name = path.name
    info = (f"Software-Info: t5repro-wetgen\nExtracted-Date: Thu, 25 Apr 2019 00:00:00 GMT\n"
            f"robots: checked via crawler-commons\nisPartOf: CC-MAIN-smoke\noperator: t5repro\n"
            f"description: Smoke-scale WET file {file_index} (original texts, CC0)\npublisher: t5repro\n").encode()
    with io_lib.atomic_path(path) as tmp, open(tmp, "wb") as f:
        writer = WARCWriter(f, gzip=True, warc_version="1.0")
        _write_record(writer, "warcinfo", [
            ("WARC-Type", "warcinfo"), ("WARC-Date", "2019-04-25T00:00:00Z"), ("WARC-Filename", name),
            ("WARC-Record-ID", _record_id(rng)), ("Content-Type", "application/warc-fields")], info)
        for p in pages:
            body = "\n".join(p.lines).encode("utf-8")
            _write_record(writer, "conversion", [
                ("WARC-Type", "conversion"), ("WARC-Target-URI", p.url), ("WARC-Date", p.date),
                ("WARC-Record-ID", _record_id(rng)), ("WARC-Refers-To", _record_id(rng)),
                ("Content-Type", "text/plain")], body, uri=p.url)


def run(cfg: DictConfig) -> None:
    """Stage `wet`: write cfg.wet.num_files WET files into io.wet_dir, deterministic given cfg.wet.seed."""
    wet_dir = config_lib.require_path(cfg, "io.wet_dir")
    seed, n_files, per_file = int(cfg.wet.seed), int(cfg.wet.num_files), int(cfg.wet.pages_per_file)
    wet_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in log_lib.progress(range(n_files), total=n_files, desc="wet files", unit="file"):
        pages = file_pages(seed, i, per_file)
        write_wet_file(wet_dir / FILE_PATTERN.format(i=i), i, pages, seed)
        total += len(pages)
    logger.info("wrote %d WET files (%d pages) into %s", n_files, total, wet_dir)
