"""Spec D14: langdetect top prediction must be `en` with prob >= 0.99 (seed 0)."""

from __future__ import annotations

from t5repro.c4 import wetgen
from t5repro.c4.langid import language_filter, top_language
from t5repro.c4.stats import Drop
from t5repro.c4.wet import Page

EN = ("The village library was built in a former grain store. On humid days the reading room still smells of "
      "oats. The librarian keeps a notebook of every question that visitors ask.")


def test_d14_english_kept_german_dropped():
    counters: dict = {}
    page = Page("http://a.org", EN)
    assert language_filter(page, counters) is page
    de = Page("http://b.org", "\n".join(wetgen._paragraphs("de")[:2]))
    assert language_filter(de, counters) == Drop("page-filtered-ignoredlang")
    assert counters["page-emited-en"] == 1 and counters["page-filtered-ignoredlang-de"] == 1


def test_d14_threshold_and_exception():
    assert language_filter(Page("u", EN), {}, threshold=1.01) == Drop("page-filtered-lowlangdetectconf")
    assert language_filter(Page("u", "12345 678"), {}) == Drop("langdetect-exception")


def test_d14_deterministic_and_multilingual_languages():  # seed 0: same answer every call; D30 languages
    assert top_language(EN) == top_language(EN)
    for lang in ("de", "fr", "ro"):
        got, prob = top_language("\n".join(wetgen._paragraphs(lang)[:3]))
        assert got == lang and prob >= 0.99
