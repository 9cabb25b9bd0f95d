"""Table 3 (§3.3): the paper's example sentence through our objectives, beside the paper's rows."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from t5repro.config import ConfigError
from t5repro.report import table03, tables

PAPER_DIR = (Path(os.environ["T5REPRO_DATA"]).parent if os.environ.get("T5REPRO_DATA")
             else Path(__file__).resolve().parents[3] / "shared") / "paper"
SENTENCE = "Thank you for inviting me to your party last week ."


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    cfg = OmegaConf.create({"stage": "report", "seed": 0, "report": {"table": "table03_objectives"},
                            "io": {"reports_dir": str(reports), "paper_dir": str(PAPER_DIR), "results_dir": None}})
    tables.run(cfg)  # through the report stage's registry
    with (reports / "table03_objectives.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, (reports / "table03_objectives.md").read_text()


def _words(text):
    return text.split()


def test_rows_follow_the_paper(report):
    rows, md = report
    with (PAPER_DIR / "table03_objective_examples.csv").open(newline="") as f:
        paper = list(csv.DictReader(f))
    assert [r["objective"] for r in rows] == [r["objective"] for r in paper]
    assert all(r["paper_inputs"] == p["inputs"] and r["paper_targets"] == p["targets"] for r, p in zip(rows, paper))
    assert [r["our_objective"] for r in rows] == ["prefix_lm", "bert_style", "deshuffling", "mass_style",
                                                  "iid_denoising", "drop_tokens", "span_corruption"]
    assert "`Thank you <X> me to your party <Y> week .`" in md and "form, not in words" in md


def test_our_rows_have_each_objective_form(report):
    rows, _ = report
    ours = {r["our_objective"]: (r["our_inputs"], r["our_targets"]) for r in rows}
    words = _words(SENTENCE)
    i, t = ours["prefix_lm"]
    assert i and _words(i) + _words(t) == words and t  # prefix + rest = the sentence (D63)
    i, t = ours["deshuffling"]
    assert sorted(_words(i)) == sorted(words) and _words(i) != words and t == "(original text)"  # D71
    for name in ("bert_style", "mass_style"):
        i, t = ours[name]
        assert t == "(original text)" and len(_words(i)) == len(words) and "<M>" in _words(i)
        assert "<X>" not in i
    i, t = ours["mass_style"]
    assert all(a in (b, "<M>") for a, b in zip(_words(i), words))  # D68: only mask ids replace words
    i, t = ours["drop_tokens"]
    assert sorted(_words(i) + _words(t)) == sorted(words) and "<" not in i + t  # D67 partition
    for name in ("iid_denoising", "span_corruption"):
        i, t = ours[name]
        assert "<X>" in i and "<X>" in t and "<M>" not in i  # unique sentinels (D65/D66)
        filled = []  # undo D65/D66: the k-th sentinel of the inputs takes the k-th run of words of the targets
        runs = [run.split() for run in " ".join(w if not w.startswith("<") else "|" for w in _words(t)).split("|")]
        runs = [r for r in runs if r]
        k = 0
        for w in _words(i):
            if w.startswith("<"):
                filled += runs[k]
                k += 1
            else:
                filled.append(w)
        assert filled == words, name
    # The i.i.d. rows share one seed, hence one mask (as the paper's rows share "for inviting", "last").
    dropped = _words(ours["drop_tokens"][1])
    assert [w for w in words if w not in _words(ours["drop_tokens"][0])] == dropped
    masked = [w for w, m in zip(words, _words(ours["mass_style"][0])) if m == "<M>"]
    assert masked == dropped


def test_deterministic_and_seeded(report):
    rows, _ = report
    paper = table03.read_table(PAPER_DIR, table03.PAPER_CSV).rows
    again, sentence, seed = table03.build_rows(paper, 0)
    assert sentence == SENTENCE and [(r.objective, r.inputs, r.targets)
                                     for r in again] == [(r["our_objective"], r["our_inputs"], r["our_targets"])
                                                         for r in rows]
    assert f"under seed {seed} " in report[1]
    vocab = table03.toy_vocabulary(SENTENCE)
    ids = vocab.encode(SENTENCE)
    a, b = (table03.apply_objective("deshuffling", ids, vocab, s) for s in (seed, seed + 1))
    assert a != b and sorted(a["inputs"]) == sorted(b["inputs"]) == ids


def test_toy_vocabulary_rendering():
    vocab = table03.toy_vocabulary(SENTENCE)
    ids = vocab.encode(SENTENCE)
    assert ids == list(range(3, 3 + len(ids))) and vocab.render(ids, shared_mask=False) == SENTENCE
    top = vocab.vocab_size - 1
    assert vocab.render([top, top - 1, top - 2, top - 3], shared_mask=False) == "<X> <Y> <Z> <S3>"
    assert vocab.render([top, 3], shared_mask=True) == "<M> Thank"
    with pytest.raises(ValueError, match="toy vocabulary"):
        vocab.render([1], shared_mask=False)


def test_unknown_table_lists_table03():
    with pytest.raises(ConfigError, match="table03_objectives"):
        tables.get_table("table03")
