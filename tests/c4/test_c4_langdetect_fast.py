"""Spec D14: `t5repro.c4.langdetect_fast` must give exactly what `langdetect.detect_langs` gives under seed 0.

The reference is langdetect 1.0.9 itself, called here with `DetectorFactory.seed = 0`. Every comparison is of the
full prediction list, probabilities with `==` (bit-identical floats), and of exceptions (None on our side where
langdetect raises LangDetectException). Texts: pages of our WET generator (English, German, French, Romanian,
mixed, huge, empty; raw and after D9/D10 cleaning) and generated texts built to hit every branch of langdetect's
text handling (URLs, e-mails, scripts, capitals, Vietnamese marks, > 10,000 characters, runs of spaces, ...).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.ngram import NGram

from t5repro.c4 import langdetect_fast, wetgen
from t5repro.c4.clean import CleanOptions, clean_text
from t5repro.c4.langdetect_fast import FastLangDetect
from t5repro.c4.stats import Drop

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?:\s|$)")


def reference(texts):
    """[(lang, prob), ...] from langdetect itself with seed 0, or None where it raises LangDetectException."""
    DetectorFactory.seed = 0
    out = []
    for text in texts:
        try:
            out.append([(x.lang, x.prob) for x in detect_langs(text)])
        except LangDetectException:
            out.append(None)
    return out


def assert_same(texts, want, got):
    assert len(got) == len(want) == len(texts)
    bad = [i for i, (a, b) in enumerate(zip(want, got)) if a != b]
    assert not bad, f"{len(bad)} of {len(texts)} differ; first: {texts[bad[0]][:80]!r}: {want[bad[0]]} != {got[bad[0]]}"


# ---------------------------------------------------------------------------------------------- corpora
def _wetgen_texts() -> list[str]:
    """Raw WET pages of 4 generated files (all page kinds) plus their D9/D10-cleaned texts."""
    raw = ["\n".join(p.lines) for i in range(4) for p in wetgen.file_pages(7, i, 200)]
    cleaned = []
    for text in raw:
        out = clean_text(text, CleanOptions(), _SENTENCE_END.findall, {})
        if not isinstance(out, Drop):
            cleaned.append(out)
    return raw + cleaned


def _chars(lo: int, hi: int) -> str:
    return "".join(map(chr, range(lo, hi + 1)))


SCRIPTS = {
    "latin": _chars(0x61, 0x7A) * 3 + _chars(0x41, 0x5A),
    "latin1": _chars(0xC0, 0xFF) + "\u00a0\u00ab\u00b0\u00bb\u00b5\u00aa",
    "latin_ext": _chars(0x100, 0x24F) + "\u0219\u021b\u015f\u0163\u01c5\u01c8\u1e9e\u017f",
    "viet": _chars(0x1E00, 0x1EFF),
    "greek": _chars(0x391, 0x3A9) + _chars(0x3B1, 0x3C9),
    "cyrillic": _chars(0x400, 0x44F),
    "hebrew": _chars(0x5D0, 0x5EA),
    "arabic": _chars(0x621, 0x64A) + "\u06cc\u06a9\u06af\u067e",
    "devanagari": _chars(0x905, 0x939),
    "thai": _chars(0xE01, 0xE2E),
    "hangul": _chars(0xAC00, 0xAC40) + _chars(0xD780, 0xD7A3) + _chars(0x1100, 0x1112),
    "kana": _chars(0x3041, 0x3096) + _chars(0x30A1, 0x30FA) + _chars(0x3105, 0x312D) + _chars(0x31A0, 0x31BA),
    "cjk": "".join(NGram.CJK_MAP)[:400] + _chars(0x4E00, 0x4E80) + _chars(0x9F00, 0x9FFF) + _chars(0x3400, 0x3420),
    "symbols": _chars(0x2000, 0x206F) + _chars(0x2600, 0x2620) + "\U0001F600\U0001F680\u3000\ufeff\uffff\U0010FFFF"
               + _chars(0x860, 0x86A) + _chars(0xFF01, 0xFF5E) + "\ud800\udc00\udbff",
    "marks": "\u0300\u0301\u0303\u0309\u0323\u0308\u0327",
}
SEPARATORS = [" ", " ", " ", "  ", "\n", "\t", ", ", ". ", " - ", "\n\n  \t", "   \u00a0", "\u2003", "\r\n"]
VI_BASES = "AEIOUYaeiouy\u00c2\u00ca\u00d4\u00e2\u00ea\u00f4\u0102\u0103\u01a0\u01a1\u01af\u01b0"


def _word(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9)))


def _capitalise(rng: random.Random, word: str) -> str:
    r = rng.random()
    if r < 0.3:
        return word.upper()
    if r < 0.5:
        return word.title()
    if r < 0.7:
        return "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    return word


def _words_text(rng: random.Random, scripts: list[str], n: int) -> str:
    out = []
    for _ in range(n):
        w = _word(rng, SCRIPTS[rng.choice(scripts)])
        if rng.random() < 0.3:
            w = _capitalise(rng, w)
        if rng.random() < 0.05:  # Vietnamese: base letter + combining mark (NGram.normalize_vi)
            w += rng.choice(VI_BASES) + rng.choice(SCRIPTS["marks"]) + rng.choice(VI_BASES)
        out.append(w)
        out.append(rng.choice(SEPARATORS))
    return "".join(out)


def _url(rng: random.Random) -> str:
    host = _word(rng, "abcdefghij") + rng.choice([".com", ".org/path?q=1&x=y#frag", ".de/~user;v=2", ""])
    return rng.choice(["http://", "https://", "HTTP://", "http:/", "ftp://"]) + host


def _email(rng: random.Random) -> str:
    return _word(rng, "abcxyz._-019") + "@" + _word(rng, "abcdefgh-_") + rng.choice([".com", ".co.uk", "", "é.fr"])


_EN_PARAGRAPHS = [p for p in (wetgen.TEXTS / "en.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()]


def _english(rng: random.Random) -> str:
    return " ".join(rng.choice(_EN_PARAGRAPHS).split()[:rng.randint(3, 80)])


def _generated_texts(n: int, seed: int = 20260101) -> list[str]:
    rng = random.Random(seed)
    fixed = [
        "", " ", "  ", "\n", "\t\t\n \r\n", "\u3000", "\u00a0", "0123456789", "12 345 6.78", "!!!???...", "a", "A", "AB",
        "ab", "I", "x y", "OK", "ok ok", "the", "\u4e2d", "\u65e5\u672c", "\u30c6\u30b9\u30c8", "\ud55c\uad6d\uc5b4",
        "\u041c\u043e\u0441\u043a\u0432\u0430", "\u0645\u0631\u062d\u0628\u0627", "Vi\u0303\u0323t Nam", "e\u0301",
        "a\u0300b\u0301", "\u0300", "http://example.com", "https://example.com/a?b=c http://x.org",
        "mail me@example.com", "me@example.com", "@", "http://", "\ud800", "\ud83d\ude00", "\U0001F600 smile",
        "NASA NASA NASA", "McDONALD's HQ", "HeLLo WoRLD", "\u01c5ungla \u01c8ubljana", "\u0130stanbul", "STRASSE stra\u00dfe",
        "[]^_`\\ \u4e2d\u6587\u4e2d\u6587\u4e2d\u6587 [x]", "\u4e2d\u6587\u4e2d\u6587\u4e2d\u6587 abc", "\u0219i \u021bar\u0103",
        "x" * 10001, "ab " * 4000, " " * 12000 + "hello world", "hello" + " " * 20000 + "world",
    ]
    texts = list(fixed)
    kinds = ["script", "mixed", "english", "english_mut", "urls", "spaces", "long", "caps", "latin_vs_cjk", "short"]
    weights = [20, 15, 15, 20, 8, 8, 2, 6, 5, 1]
    while len(texts) < n:
        kind = rng.choices(kinds, weights)[0]
        if kind == "script":
            t = _words_text(rng, [rng.choice(list(SCRIPTS))], rng.randint(1, 60))
        elif kind == "mixed":
            t = _words_text(rng, rng.sample(list(SCRIPTS), rng.randint(2, 5)), rng.randint(2, 80))
        elif kind == "english":
            t = _english(rng)
        elif kind == "english_mut":  # English with capitals, other scripts, URLs, e-mails, digits in between
            words = _english(rng).split()
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(words) + 1)
                words.insert(i, rng.choice([_url(rng), _email(rng), _word(rng, "0123456789"),
                                            _word(rng, SCRIPTS[rng.choice(list(SCRIPTS))]),
                                            _capitalise(rng, _word(rng, SCRIPTS["latin"]))]))
            t = "".join(w + rng.choice(SEPARATORS) for w in words)
        elif kind == "urls":
            parts = [rng.choice([_url(rng), _email(rng)]) for _ in range(rng.randint(1, 6))]
            if rng.random() < 0.5:
                parts.append(_word(rng, SCRIPTS["latin"]))
            t = rng.choice([" ", "\n", ""]).join(parts)
        elif kind == "spaces":
            t = "".join(_word(rng, SCRIPTS["latin"]) + rng.choice([" " * rng.randint(1, 30), "\n" * rng.randint(1, 9),
                                                                   "\t" * rng.randint(1, 5), " \n\t \r "])
                        for _ in range(rng.randint(1, 40)))
        elif kind == "long":  # > 10,000 characters; the cut may fall inside a URL, a run of spaces, a mark pair
            base = _english(rng) + " "
            t = base * (10200 // len(base) + 1)
            cut = 10000 - rng.randint(0, 30)
            t = t[:cut] + rng.choice([_url(rng), " " * 40, "e\u0301\u0301", _email(rng), "\u4e2d\u6587" * 20]) + t[cut:]
        elif kind == "caps":
            t = " ".join(_capitalise(rng, _word(rng, SCRIPTS[rng.choice(["latin", "latin1", "greek", "cyrillic"])]))
                         for _ in range(rng.randint(1, 50)))
        elif kind == "latin_vs_cjk":  # cleaning_text: latin letters dropped iff latin * 2 < non-latin
            t = _words_text(rng, ["cjk", "kana", "hangul"], rng.randint(1, 30)) + " " + \
                _words_text(rng, ["latin"], rng.randint(0, 30)) + rng.choice(["[_]", "^`\\", ""])
        else:  # very short texts (langdetect often runs 1,001 iterations on these: keep them few)
            t = _word(rng, SCRIPTS[rng.choice(list(SCRIPTS))])[:rng.randint(1, 3)]
        texts.append(t)
    return texts


@pytest.fixture(scope="module")
def detector() -> FastLangDetect:
    return FastLangDetect()


@pytest.fixture(scope="module")
def wet_corpus():
    texts = _wetgen_texts()
    return texts, reference(texts)


@pytest.fixture(scope="module")
def generated_corpus():
    texts = _generated_texts(1700)
    return texts, reference(texts)


# ---------------------------------------------------------------------------------------------- building blocks
def test_stream_and_gauss_are_python_random():
    words, as_list = langdetect_fast._mt_stream(5000)
    rng = random.Random(0)
    assert as_list[:5000] == [rng.getrandbits(32) for _ in range(5000)] == words[:5000].tolist()
    rng = random.Random(0)
    for p in (0, 4, 1234):  # gauss at stream position p: skip p words, then gauss() twice (computed, cached)
        rng.seed(0)
        for _ in range(p):
            rng.getrandbits(32)
        g, nxt = langdetect_fast._gauss_pair(*as_list[p:p + 4])
        assert (g, nxt) == (rng.gauss(0.0, 1.0), rng.gauss_next)
        assert rng.gauss(0.0, 1.0) == nxt


def test_choice_is_rejection_sampling_on_the_stream():
    rng = random.Random(0)
    _, words = langdetect_fast._mt_stream(5000)
    pos = 0
    for n in [1, 2, 3, 5, 1000, 3333, 4096, 4097, 29999]:
        k = n.bit_length()
        while (words[pos] >> (32 - k)) >= n:
            pos += 1
        expect = words[pos] >> (32 - k)
        pos += 1
        assert rng.choice(range(n)) == expect


def test_sequential_sum_matches_python_sum():
    rng = np.random.default_rng(3)
    for k in (2, 3, 4, 9, 100, 1000):
        x = rng.random((k, 55)) ** 40
        x[:, 1::4] *= 1e-200
        expect = [sum(r) for r in x.tolist()]
        assert langdetect_fast._seqsum(np.ascontiguousarray(x.T)).tolist() == expect
        for fallback in (langdetect_fast._seqsum_accumulate, langdetect_fast._seqsum_python):
            assert fallback(np.ascontiguousarray(x.T)).tolist() == expect


def test_normalisation_table_is_ngram_normalize(detector):
    table = detector._norm.tolist()
    bad = [cp for cp in range(0x110000) if table[cp] != ord(NGram.normalize(chr(cp)))]
    assert not bad, [hex(cp) for cp in bad[:10]]
    ascii_map = detector._ascii_bytes
    assert all(ascii_map[c] == ord(NGram.normalize(chr(c))) for c in range(0x80))
    assert detector._upper.tolist() == [chr(c).isupper() for c in range(0x110000)]


def test_ngram_extraction_is_langdetects(detector, generated_corpus):
    """The id list (order included: `choice` indexes into it) equals Detector._extract_ngrams after append."""
    DetectorFactory.seed = 0
    from langdetect import detector_factory

    detector_factory.init_factory()
    factory = detector_factory._factory
    names = list(factory.word_lang_prob_map)
    texts = generated_corpus[0][::3] + _wetgen_texts()[:150]
    wants = []
    for text in texts:
        d = factory.create()
        d.append(text)
        d.cleaning_text()
        wants.append(d._extract_ngrams())
        got = [names[i] for i in detector._ngram_ids(text).tolist()]
        assert got == wants[-1], text[:80]
    # the same, all texts in one block (the block mixes ASCII texts and others): split into its ASCII and other
    # texts (`_extract`), and all of them down the general path at once (`_extract_joined`)
    prepared = [detector._prepare(t) for t in texts]
    assert any(t.isascii() for t in prepared) and not all(t.isascii() for t in prepared)
    for block in (detector._extract(prepared), detector._extract_joined(prepared)):
        for text, want, ids in zip(texts, wants, block):
            assert [names[i] for i in ids.tolist()] == want, text[:80]
    # and every n-gram through the tables for non-ASCII text; random keys find exactly the n-grams they name
    ci = detector._char_index
    expect = {}
    for row, w in enumerate(names):
        idx = [int(ci[ord(ch)]) for ch in w]
        assert all(idx)
        if len(w) == 1:
            assert detector._unigram[idx[0]] == (row if w != " " else -1)
        else:
            expect[sum(i << 12 * (len(w) - 1 - k) for k, i in enumerate(idx))] = row
    keys = np.array(list(expect), dtype=np.uint64)
    assert detector._lookup(keys).tolist() == list(expect.values())
    rng = np.random.default_rng(1)
    small = rng.integers(1, int(ci.max()) + 1, (20000, 3)).astype(np.uint64)
    probes = np.concatenate([(small[:, 0] << 24) | (small[:, 1] << 12) | small[:, 2], (small[:, 1] << 12) | small[:, 2],
                             keys + np.uint64(1)])
    assert detector._lookup(probes).tolist() == [expect.get(k, -1) for k in probes.tolist()]


# ---------------------------------------------------------------------------------------------- equality
def test_wetgen_pages(detector, wet_corpus):
    texts, want = wet_corpus
    assert len(texts) >= 1400
    assert sum(w is None for w in want) >= 4 and sum(w is not None and w[0][0] != "en" for w in want) >= 100
    assert_same(texts, want, detector.detect_langs_batch(texts))


def test_generated_texts(detector, generated_corpus):
    texts, want = generated_corpus
    assert len(texts) >= 1700 and sum(len(t) > 10000 for t in texts) >= 20
    assert sum(w is None for w in want) >= 20
    assert_same(texts, want, detector.detect_langs_batch(texts))


@pytest.mark.parametrize("config", [
    dict(slots=7, scalar_tail=0),  # numpy engine down to the last page, many admissions and compactions
    dict(slots=64, scalar_tail=0),
    dict(slots=1, scalar_tail=0),  # one slot: a single column is normalised
    dict(scalar_tail=10 ** 9),  # every page on the scalar path
])
def test_engine_configurations(config, wet_corpus, generated_corpus):
    texts = wet_corpus[0][::9] + generated_corpus[0][::7]
    want = [w for w in wet_corpus[1][::9]] + [w for w in generated_corpus[1][::7]]
    assert_same(texts, want, FastLangDetect(**config).detect_langs_batch(texts))


def test_random_stream_grows_on_demand(monkeypatch, generated_corpus):
    """Start from a 2,048-word stream: pages that need more words (1,001-iteration trials) make it grow mid-run."""
    monkeypatch.setattr(langdetect_fast, "_STREAM_MIN", 2048)
    monkeypatch.setattr(langdetect_fast, "_stream", None)
    texts = ["a", "\u4e2d", "x y", "OK", "\u0416", "ab"] + generated_corpus[0][:40]
    want = reference(texts)
    assert_same(texts, want, FastLangDetect(slots=8, scalar_tail=0).detect_langs_batch(texts))
    assert len(langdetect_fast._stream[1]) > 2048
    monkeypatch.setattr(langdetect_fast, "_stream", None)
    assert_same(texts, want, FastLangDetect(scalar_tail=100).detect_langs_batch(texts))


def test_batching_and_order_do_not_matter(detector, generated_corpus):
    texts, want = generated_corpus
    idx = list(range(0, len(texts), 5))
    random.Random(5).shuffle(idx)
    sub = [texts[i] for i in idx]
    got = []
    for i in range(0, len(sub), 37):
        got += detector.detect_langs_batch(sub[i:i + 37])
    assert_same(sub, [want[i] for i in idx], got)
    assert_same(sub[:25], [want[i] for i in idx[:25]], [detector.detect_langs(t) for t in sub[:25]])


_ALPHABET = st.sampled_from(list(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ      \n\t0123456789.,;:!?@/-_[]^`\\'\"()"
    "\u00e9\u00e8\u00fc\u00df\u00c4\u00a0\u00ab\u0219\u021b\u0103\u0300\u0301\u0303\u0309\u0323\u1ea1\u1ec7"
    "\u03b1\u0391\u0436\u0416\u05d0\u0627\u06cc\u0915\u0e01\uac00\ud55c\u3042\u30a2\u3105\u4e00\u4e2d\u6587\u2014\u3000"
    "\U0001F600"))
_TOKENS = st.sampled_from(["http://a.b/c", "https://x.org/?q=1", "me@mail.com", "the", "and", "Language", "NASA",
                           "Stra\u00dfe", "vi\u1ec7t", "\u0441\u043b\u043e\u0432\u043e", "\u65e5\u672c\u8a9e", "  ", "\n"])
_TEXT = st.lists(st.one_of(_ALPHABET, _TOKENS), max_size=120).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_TEXT, min_size=1, max_size=12))
def test_property_random_batches(texts):
    want = reference(texts)
    assert_same(texts, want, langdetect_fast.default_detector().detect_langs_batch(texts))


# ---------------------------------------------------------------------------------------------- API
def test_exceptions_become_none(detector):
    texts = ["", "   ", "1234 5678", "http://example.com/only", "someone@example.com", "!!! ... ???", "\u2014\u2014"]
    for text in texts:
        DetectorFactory.seed = 0
        with pytest.raises(LangDetectException):
            detect_langs(text)
    assert detector.detect_langs_batch(texts) == [None] * len(texts)
    assert detector.top_language_batch(texts) == [None] * len(texts)
    assert detector.detect_langs_batch([]) == []


def test_top_language_and_module_helpers(detector, wet_corpus):
    texts, want = wet_corpus[0][:60], wet_corpus[1][:60]
    assert detector.top_language_batch(texts) == [w[0] if w else None for w in want]
    assert langdetect_fast.top_language(texts[1]) == (want[1][0] if want[1] else None)
    assert langdetect_fast.detect_langs(texts[2]) == want[2]
    assert langdetect_fast.default_detector() is langdetect_fast.default_detector()


def test_non_strings_go_to_langdetect(detector):
    DetectorFactory.seed = 0
    with pytest.raises(TypeError):
        detect_langs(b"bytes are not text")
    with pytest.raises(TypeError):
        detector.detect_langs_batch(["fine text here", b"bytes are not text"])


def test_corpus_size(wet_corpus, generated_corpus):
    """The file compares well over 3,000 texts with langdetect (spec D14 exactness)."""
    assert len(wet_corpus[0]) + len(generated_corpus[0]) >= 3000
