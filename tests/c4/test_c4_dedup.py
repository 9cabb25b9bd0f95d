"""Spec D7 (URL normalisation/dedup), D12 (window dedup, paper) and D13 (line dedup, tfds)."""

from __future__ import annotations

import pytest

from t5repro.c4.dedup import dedup_urls, line_dedup, md5_hex, normalize_url, window_dedup
from t5repro.c4.wet import Page


@pytest.mark.parametrize("url,key", [
    ("http://www.example.com/a/b/", "example.com/a/b"),
    ("https://example.com/a/b?utm_source=x&y=1", "example.com/a/b"),
    ("https://www.example.com/a/b/?ref=home", "example.com/a/b"),
    ("http://example.com/a?feed=rss2", "example.com/a"),
    ("https://example.com/a?id=3&utm_source=x", "example.com/a?id=3&utm_source=x"),  # only ?utm_ right after ?
    ("https://example.com/go?to=http://www.other.org/", "example.com/go?to=other.org"),  # every match removed
    ("https://www2.example.com/a", "www2.example.com/a"),
])
def test_d7_normalize(url, key):
    assert normalize_url(url) == key


def test_d7_newest_timestamp_wins():
    pages = [Page("http://www.x.org/a", "old", "2019-04-18T00:00:00Z"),
             Page("https://x.org/a/?utm_source=n", "new", "2019-04-20T00:00:00Z"),
             Page("https://x.org/a", "tie", "2019-04-20T00:00:00Z"),  # equal: the first seen stays
             Page("https://x.org/b", "other", "2019-04-01T00:00:00Z")]
    counters: dict = {}
    kept, dropped = dedup_urls(pages, counters)
    assert [p.text for p in kept] == ["new", "other"]
    assert dropped == 2 and counters == {"filtered-url-duplicate": 2, "unique-url": 2}


S = ["Alpha beta gamma delta one.", "Bravo charlie delta echo two.", "Cedar maple pine oak three.",
     "Delta river runs fast four.", "Eagle hawk owl kite five.", "Fig plum pear apple six."]


def _sorted_urls(*urls):
    return sorted(urls, key=lambda u: md5_hex(normalize_url(u)))


def test_d12_window_dedup_across_pages(sentences):  # spec D12: the md5-first page keeps the window
    win = " ".join(S[0:3])
    first, second = _sorted_urls("https://a.org/1", "https://b.org/2")
    pages = [Page(second, f"{win} {S[3]}\n{S[4]} {S[5]} Zeta zulu yankee xray seven."),
             Page(first, f"{S[5]} {win}\n{S[4]} Quiet quail quits quickly now.")]
    counters: dict = {}
    kept, drops = window_dedup(pages, sentences, counters)
    assert drops == []
    by_url = {p.url: p.text for p in kept}
    assert by_url[first] == f"{S[5]} {win}\n{S[4]} Quiet quail quits quickly now."
    # the loser keeps only what no removed window covers; lines are rebuilt with single spaces
    assert by_url[second] == f"{S[3]}\n{S[4]} {S[5]} Zeta zulu yankee xray seven."
    assert counters["filtered-sentences-duplicate"] == 3


def test_d12_short_line_window_is_whole_line_and_case_insensitive(sentences):  # spec D12: w = min(len, 3)
    first, second = _sorted_urls("https://c.org/1", "https://d.org/2")
    pages = [Page(second, f"{S[0].upper()}\n{S[1]} {S[2]} {S[3]}"), Page(first, f"{S[0]}\n{S[4]} {S[5]} {S[2]}")]
    kept, drops = window_dedup(pages, sentences, {})
    texts = {p.url: p.text for p in kept}
    assert texts[second] == f"{S[1]} {S[2]} {S[3]}"  # whole one-sentence line removed, case-insensitively
    assert texts[first] == f"{S[0]}\n{S[4]} {S[5]} {S[2]}"


def test_d12_within_page_repeat_quirk(sentences):  # spec D12 step 2: the winner may lose its own window
    one, = _sorted_urls("https://e.org/1")
    line = " ".join(S[0:3])
    page = Page(one, f"{line}\n{line}\n{S[3]} {S[4]} {S[5]}")
    kept, drops = window_dedup([page], sentences, {})
    assert [p.text for p in kept] == [f"{S[3]} {S[4]} {S[5]}"]  # both copies removed


def test_d12_page_dropped_when_fewer_than_three_sentences_remain(sentences):  # spec D12 step 4
    first, second = _sorted_urls("https://f.org/1", "https://g.org/2")
    line = " ".join(S[0:3])
    pages = [Page(first, line), Page(second, f"{line}\n{S[4]} {S[5]}")]
    kept, drops = window_dedup(pages, sentences, {})
    assert [p.url for p in kept] == [first]
    assert [(p.url, r) for p, r in drops] == [(second, "filtered-deduped_page-toofewsentences")]


def _line_pages():
    shared = "A shared line of text that appears on both pages."
    urls = sorted(["https://h.org/1", "https://i.org/2"], key=md5_hex)
    body = " ".join(S[0:3])
    return urls, shared, [Page(urls[1], f"{shared}\n{body}"),
                          Page(urls[0], f"{shared.upper()}\n{S[3]} {S[4]} {S[5]}\n{S[3]} {S[4]} {S[5]}")]


def test_d13_line_dedup_v3(sentences):  # spec D13, 3.x: global dedup, first local copy kept, case-insensitive
    urls, shared, pages = _line_pages()
    counters: dict = {}
    kept, drops = line_dedup(pages, sentences, counters, version="3.1.0")
    texts = {p.url: p.text for p in kept}
    assert texts[urls[0]] == f"{shared.upper()}\n{S[3]} {S[4]} {S[5]}"
    assert texts[urls[1]] == " ".join(S[0:3])
    assert counters == {"filtered-lines-global_duplicate": 1, "filtered-lines-local_duplicate": 1}


def test_d13_line_dedup_v220_keeps_local_repeats_and_ascii_lower(sentences):  # spec D13, 2.2.0
    urls, shared, pages = _line_pages()
    kept, _ = line_dedup(pages, sentences, {}, version="2.2.0")
    texts = {normalize_url(p.url): p.text for p in kept}
    assert texts[normalize_url(urls[0])].count(S[3]) == 2
    # ASCII-only lower-casing: "É" and "é" lines are different keys in 2.2.0, equal in 3.1.0
    a = Page("https://j.org/1", "Élan vital is a phrase we all know well.\n" + " ".join(S[0:3]))
    b = Page("https://k.org/2", "élan vital is a phrase we all know well.\n" + " ".join(S[3:6]))
    assert all("lan vital" in p.text for p in line_dedup([a, b], sentences, {}, version="2.2.0")[0])
    assert sum("lan vital" in p.text for p in line_dedup([a, b], sentences, {}, version="3.1.0")[0]) == 1


def test_d13_empty_and_too_few(sentences):  # spec D13: empty pages and < 3 sentences are dropped
    urls = sorted(["https://l.org/1", "https://m.org/2"], key=md5_hex)
    text = " ".join(S[0:3])
    pages = [Page(urls[1], text), Page(urls[0], f"{text}\n{S[3]} {S[4]}"), Page("https://n.org/3", S[5])]
    kept, drops = line_dedup(pages, sentences, {}, version="3.1.0")
    assert [p.url for p in kept] == [urls[0]]
    assert sorted(r for _, r in drops) == ["filtered-deduped_page-empty", "filtered-deduped_page-toofewsentences"]
