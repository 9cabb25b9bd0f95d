"""Spec D9-D11 and the D23 test vectors (TFDS c4_utils `clean_page` semantics)."""

from __future__ import annotations

import pytest

from t5repro.c4.badwords import inline_regex
from t5repro.c4.clean import CleanOptions, clean_line, clean_text
from t5repro.c4.stats import Drop

# spec D23: (line, expected cleaned line or None, counter)
D23 = [
    ("Home | About | Contact", None, "lines-no-endmark"),
    ("This site uses cookies to improve your experience.", None, "lines-policy"),
    ("Please enable JavaScript to view the comments.", None, "lines-javascript"),
    ("The quick brown fox jumps over the lazy dog. It was a sunny day.",
     "The quick brown fox jumps over the lazy dog. It was a sunny day.", "lines-valid"),
    ("Our team has worked on this project for years![3]", "Our team has worked on this project for years!", "lines-valid"),
    ("Short line here.", None, "lines-too-short"),
    ("function f() { return 1; }", None, "lines-no-endmark"),
]
PAGE = "\n".join(line for line, _, _ in D23)


@pytest.mark.parametrize("line,expected,counter", D23)
def test_d23_lines(line, expected, counter):  # spec D23
    assert clean_line(line, CleanOptions()) == (expected, counter)


def test_d23_sentence_counts(sentences):  # spec D23: line 4 has 2 sentences, line 5 has 1
    assert len(sentences(D23[3][1])) == 2
    assert len(sentences(D23[4][1])) == 1


def test_d23_page_kept(sentences):  # spec D23: page of lines 1-7 is kept with 3 sentences
    counters: dict = {}
    out = clean_text(PAGE, CleanOptions(), sentences, counters)
    assert out == D23[3][1] + "\n" + D23[4][1]
    assert counters == {"lines-no-endmark": 2, "lines-policy": 1, "lines-javascript": 1, "lines-valid": 2,
                        "lines-too-short": 1}


@pytest.mark.parametrize("extra,reason", [
    ("Use the {name} field in every template you write.", "filtered-page-squigglybracket"),  # spec D23 (h)
    ("Lorem ipsum dolor sit amet, consectetur adipiscing.", "filtered-page-loremipsum"),  # spec D23 (f)
])
def test_d23_page_killers(sentences, extra, reason):
    assert clean_text(PAGE + "\n" + extra, CleanOptions(), sentences, {}) == Drop(reason)


def test_d23_citation_line_dropped(sentences):  # spec D23: only that line goes (c leaves a trailing space)
    counters: dict = {}
    out = clean_text(PAGE + "\nThe results [1] are shown below in the table. [2]", CleanOptions(), sentences, counters)
    assert out == D23[3][1] + "\n" + D23[4][1]
    assert counters["lines-no-endmark"] == 3


def test_d9_citation_then_no_endmark():  # spec D9 consequence 1: no re-strip after (c)
    assert clean_line("Text here now ok. [1]", CleanOptions()) == (None, "lines-no-endmark")
    assert clean_line("Text here is now [edit] fine[citation needed].", CleanOptions())[0] == "Text here is now  fine."


def test_d9_killers_on_dropped_lines_do_not_kill(sentences):  # spec D9 consequence 2, C10
    base = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen."
    for line in ["{ lorem ipsum", "lorem ipsum {.", "x" * 1001 + " { lorem ipsum in a long line."]:
        out = clean_text(base + "\n" + line, CleanOptions(check_long_words=True), sentences, {})
        assert out == base, line


def test_d9_unicode_ellipsis_and_quote():  # spec D9 consequences 3 and 4
    assert clean_line("And then the weather turned again\u2026", CleanOptions())[1] == "lines-no-endmark"
    assert clean_line("And then the weather turned again...", CleanOptions())[1] == "lines-no-endmark"
    assert clean_line('She said "we will see how it goes..."', CleanOptions())[1] == "lines-valid"


def test_d9_step_b_only_when_enabled():  # spec D9 b: v2/v3 only
    line = "The download key is " + "a" * 1001 + "."
    assert clean_line(line, CleanOptions(check_long_words=False))[1] == "lines-valid"
    assert clean_line(line, CleanOptions(check_long_words=True)) == (None, "lines-with-too-long-word")
    assert clean_line("The download key is " + "a" * 999 + ".", CleanOptions(check_long_words=True))[1] == "lines-valid"


def test_d9_order_javascript_before_curly_and_policy():  # spec D9: g before h before i
    assert clean_line("Enable javascript to see the {map} here.", CleanOptions())[1] == "lines-javascript"
    assert clean_line("Read the terms of use for the {site} now.", CleanOptions())[1] == "filtered-page-squigglybracket"


def test_d10_too_few_sentences(sentences):  # spec D10
    text = "The quick brown fox jumps over the lazy dog. It was a sunny day."
    assert clean_text(text, CleanOptions(), sentences, {}) == Drop("filtered-page-toofewsentences")


def test_d11_start_of_line_quirk(badwords):  # spec D11: a character is needed on both sides
    opts = CleanOptions(badwords_regex=inline_regex(badwords))
    assert clean_line("ass is here and it is fine.", opts)[1] == "lines-valid"
    assert clean_line("the ass is here and it is fine.", opts)[1] == "filtered-page-badword"
    assert clean_line("the grass is here and it is fine.", opts)[1] == "lines-valid"
    assert clean_line("ends with the word ass.", opts)[1] == "filtered-page-badword"


def test_d11_badwords_only_on_surviving_lines(sentences, badwords):  # spec D11: only lines reaching step j
    opts = CleanOptions(badwords_regex=inline_regex(badwords))
    base = "One two three four five. Six seven eight nine ten. Eleven twelve thirteen fourteen fifteen."
    assert clean_text(base + "\nthe ass", opts, sentences, {}) == base
    assert clean_text(base + "\nWe saw the ass in the field today.", opts, sentences, {}) == Drop("filtered-page-badword")


def test_sentence_fast_path_equals_punkt(sentences, data_dir):  # spec D10: the same Punkt sentences
    import random

    from nltk.tokenize import PunktTokenizer

    punkt = PunktTokenizer("english")  # nltk.data.path already points at the offline copy (fixture)
    rng = random.Random(0)
    pieces = ["The cat sat.", "Dr. Smith came", "e.g. this", "What?", "Wow!", "He said \"no.\"", "  ", "\t",
              "...", "U.S. policy", "3.14 is pi", "end.)", "(Sent1.) Sent2.", "\u2026", "ok", "a.b.c", "\n", "!!",
              # realignment, curly quotes and guillemets, every whitespace kind, abbreviations, initials, numbers
              "\u201cQuoted.\u201d", "\u2018x.\u2019", "\xabGuill.\xbb", "--", ".--", "?)", "!]", "}", "\r", "\x0b",
              "\x0c", "\r\n", "'", ".'", "No.", "1.", "J.", "Mr.", "etc.", "i.e.", "A.", "b.", ".", "?", "!", ")",
              "(", "\"", "Word", "WORD", "x?!", "hi!!!", "Yes.\"", "\u00a0", "\u2028", "caf\u00e9.", ". . .", "..",
              "1,000.", "$5.", "5.5."]
    texts = ["", " ", "One sentence here.", "Trailing space.  ", "  Leading space.", ".", "!", "\n", ". . ."]
    texts += [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(3000)]
    texts += ["".join(rng.choice(pieces) + rng.choice(["", " ", "\n", "  "]) for _ in range(rng.randint(1, 12)))
              for _ in range(3000)]
    assert sentences.exact_port  # the port runs (else nltk's own code does, slower; see resources.py)
    for t in texts:
        expected = tuple(punkt.tokenize(t))
        assert sentences(t) == expected, repr(t)
        spans = list(punkt.span_tokenize(t))
        assert sentences._spans(t) == spans, repr(t)
        if t.strip():  # clean_text's D10 shortcut: a line with a non-space character has a sentence
            assert expected, repr(t)
        for k in range(0, 5):  # the early-exit count behind D10's minimum
            assert sentences.has_at_least(t, k) == (len(expected) >= k), (repr(t), k)
            if k:
                assert sentences._spans(t, k) == spans[:k], (repr(t), k)


def test_sentence_break_decisions_equal_punkt(sentences, data_dir):  # spec D10: Punkt's own decisions
    """The port of `text_contains_sentbreak` on candidate contexts built from the model's own abbreviations,
    collocations, sentence starters and orthographic contexts (every branch of the second pass)."""
    import random

    from nltk.tokenize import PunktTokenizer

    punkt = PunktTokenizer("english")
    params = punkt._params
    abbrev, colloc = sorted(params.abbrev_types), sorted(params.collocations)
    starters, ortho = sorted(params.sent_starters), sorted(params.ortho_context)
    words = ["the", "The", "it", "I", "J", "a", "A", "1", "12", "3.5", "1,000", "-2", "x_y", "_", "caf\u00e9",
             "\u00c9t\u00e9", "--", "...", "..", "a-b", "e.g", "U.S", "Mr", "No", "no", "(", ")", "\"", "'", ",", ";",
             ":", "!", "?", ".", "\u201c", "\u201d", "2nd", "III", "\u0660", "\u00b2"]
    rng = random.Random(0)

    def word() -> str:
        r = rng.random()
        w = (rng.choice(abbrev) if r < 0.2 else rng.choice(rng.choice(colloc)) if r < 0.35 else
             rng.choice(starters) if r < 0.5 else rng.choice(ortho) if r < 0.65 else rng.choice(words))
        c = rng.random()
        return w.capitalize() if c < 0.2 else w.upper() if c < 0.25 else w

    ends = [".", ".", ".", "?", "!", "..", "...", ".\"", ".)", "", ".'", "!)", "?\u201d", ". . ."]
    seps = [" ", " ", "  ", "\n", "\n\n", "\t", " \n ", ""]
    n_true = 0
    for _ in range(30000):
        ctx = "".join(word() + rng.choice(ends) + rng.choice(seps) for _ in range(rng.randint(1, 4)))
        want = punkt.text_contains_sentbreak(ctx)
        assert sentences._contains_break_port(ctx) == want, repr(ctx)
        n_true += want
    assert 5000 < n_true < 25000


@pytest.mark.parametrize("inline", [True, False])
def test_badword_matcher_equals_the_regex(badwords, inline):  # spec D11 (inline) and D15 (page): same verdicts
    import random

    from t5repro.c4.badwords import BadwordMatcher

    m = BadwordMatcher(badwords, inline=inline)
    rng = random.Random(1)
    fillers = ["the", "grass", "class", "as", "x", "2", "on", "me", "my", "a", "of", "to", "\u00e9t\u00e9", "caf\u00e9", "Grass", "THE", "x_y", "a1b",
               "Girl", "ON", "Two", "GIRLS", "Cup", "One", "S", "M"]  # upper case: search_lower lower-cases
    seps = [" ", "  ", ",", ".", "-", "_", "&", "'", "\t", "\u00a0", "", "1", "\u2019", "\U0001f595"]
    n_hits = 0
    for i in range(6000):
        parts = [rng.choice(badwords) if rng.random() < 0.15 else rng.choice(fillers) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.2:
            parts = [p.upper() if rng.random() < 0.5 else p for p in parts]
        text = "".join(p + rng.choice(seps) for p in parts)
        if rng.random() < 0.3:
            text = text.strip()
        want = m.reference.search(text) is not None
        assert m.search(text) == want, repr(text)
        assert m.search_lower(text) == (m.reference.search(text.lower()) is not None), repr(text)  # D15's use
        n_hits += want
    assert 500 < n_hits < 5500  # both verdicts well represented
