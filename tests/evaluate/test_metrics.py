"""Metrics (spec D101-D106): fidelity to rouge_score and sacrebleu, SQuAD normalisation, averages vs the paper."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest

from t5repro.evaluate import metrics

# The paper CSVs: <$T5REPRO_DATA>/../paper (as the Makefile and `io.paper_dir` default), else ../shared/paper.
PAPER_DIR = (Path(os.environ["T5REPRO_DATA"]).parent if os.environ.get("T5REPRO_DATA")
             else Path(__file__).resolve().parents[3] / "shared") / "paper"

# ----------------------------------------------------------------- classification


def test_accuracy_counts_invalid_as_wrong():
    assert metrics.accuracy([0, 1, 1, 0], [0, 1, -1, 1]) == {"accuracy": 50.0}


def test_accuracy_rejects_length_mismatch():
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        metrics.accuracy([0, 1], [0])


def test_f1_with_invalid_sets_invalid_to_wrong_class():
    # predictions [1, -1, 0, -1] with gold [1, 1, 0, 0] become [1, 0, 0, 1]: tp=1, fp=1, fn=1 -> F1 = 0.5
    preds = [1, -1, 0, -1]
    out = metrics.f1_score_with_invalid([1, 1, 0, 0], preds)
    assert out["f1"] == pytest.approx(50.0)
    assert preds == [1, -1, 0, -1]  # caller's list untouched


def test_f1_no_positives_is_zero():
    assert metrics.f1_score_with_invalid([0, 0], [0, 0]) == {"f1": 0.0}


def _mcc_binary(t, p):
    t, p = np.asarray(t), np.asarray(p)
    tp = np.sum((t == 1) & (p == 1)); tn = np.sum((t == 0) & (p == 0))
    fp = np.sum((t == 0) & (p == 1)); fn = np.sum((t == 1) & (p == 0))
    return (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


def test_matthews_binary_matches_textbook_formula():
    t = [1, 1, 1, 0, 0, 0, 1, 0, 1, 1]
    p = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert metrics.matthews_corrcoef(t, p)["matthews_corrcoef"] == pytest.approx(100 * _mcc_binary(t, p))


def test_matthews_keeps_invalid_as_own_class_and_degenerate_is_zero():
    # -1 is a third class (D101); expected value computed by hand from the confusion matrix below.
    t, p = [0, 1, 0, 1], [0, 1, -1, 1]
    # classes (-1, 0, 1); C = [[0,0,0],[1,1,0],[0,0,2]]: t_sum=(0,2,2), p_sum=(1,1,2), trace=3, n=4
    expected = (3 * 4 - (0 * 1 + 2 * 1 + 2 * 2)) / math.sqrt((16 - 8) * (16 - 6))
    assert metrics.matthews_corrcoef(t, p)["matthews_corrcoef"] == pytest.approx(100 * expected)
    assert metrics.matthews_corrcoef([1, 1, 1], [1, 1, 1]) == {"matthews_corrcoef": 0.0}


# ----------------------------------------------------------------- ROUGE (D103)

TARGETS = ["the cat sat on the mat . it was happy .", "police arrested a man on tuesday . he is 34 .",
           "the quick brown fox jumps over the lazy dog ."]
PREDICTIONS = ["the cat sat on a mat . it purred .", "a man was arrested by police .",
               "quick foxes jump over dogs ."]


def test_rouge_matches_rouge_score_called_directly():
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=False)
    agg = scoring.BootstrapAggregator()
    for t, p in zip(TARGETS, PREDICTIONS):
        agg.add_scores(scorer.score(t.replace(" . ", " .\n"), p.replace(" . ", " .\n")))
    np.random.seed(0)
    direct = agg.aggregate()
    ours = metrics.rouge(TARGETS, PREDICTIONS, seed=0)
    for k in ("rouge1", "rouge2", "rougeLsum"):
        assert ours[k] == pytest.approx(100 * direct[k].mid.fmeasure, abs=1e-9)


def test_rouge_deterministic_and_leaves_global_seed_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, b = metrics.rouge(TARGETS, PREDICTIONS), metrics.rouge(TARGETS, PREDICTIONS)
    assert a == b
    assert (np.random.get_state()[1] == before).all()


def test_rouge_mean_golden_and_no_stemming():
    # Golden (rouge_score 0.1.2): "the cat sat on the mat ." vs "the cat sat on a mat ." -> R1 5/6, R2 3/5.
    out = metrics.rouge(["the cat sat on the mat ."], ["the cat sat on a mat ."])
    assert out["rouge1_mean"] == pytest.approx(100 * 5 / 6)
    assert out["rouge2_mean"] == pytest.approx(60.0)
    # No stemming (D103): "jumps" and "jumped" do not match.
    assert metrics.rouge(["jumps"], ["jumped"])["rouge1_mean"] == 0.0


def test_rouge_sentence_split_affects_rougelsum_only_via_newlines():
    # ` . ` -> ` .\n`: rougeLsum is computed per sentence, so swapping sentence order keeps it at 100.
    out = metrics.rouge(["a b c . d e f ."], ["d e f . a b c ."])
    assert out["rougeLsum_mean"] == pytest.approx(100.0)
    assert out["rouge2_mean"] < 100.0


# ----------------------------------------------------------------- BLEU (D104)

BLEU_REFS = ["The cat sat on the mat.", "Der Hund läuft schnell über die Straße.",
             "It's 5 o'clock, and the meeting—finally—ended."]
BLEU_HYPS = ["The cat sat on a mat.", "Der Hund läuft über die Straße.",
             "It's 5 o'clock and the meeting finally ended."]


def test_bleu_matches_sacrebleu_direct_call_and_golden():
    import sacrebleu

    direct = sacrebleu.corpus_bleu(BLEU_HYPS, [BLEU_REFS], smooth_method="exp", smooth_value=0.0, force=False,
                                   lowercase=False, tokenize="intl", use_effective_order=False).score
    ours = metrics.bleu(BLEU_REFS, BLEU_HYPS)["bleu"]
    assert ours == direct
    # Golden value from sacrebleu 2.6.0 (the pinned version); `13a` tokenisation would give 39.76.
    assert ours == pytest.approx(51.38552789396908, abs=1e-9)


def test_bleu_signature_names_d104_settings():
    sig = metrics.bleu_signature()
    for part in ("nrefs:1", "case:mixed", "eff:no", "tok:intl", "smooth:exp"):
        assert part in sig


def test_bleu_perfect_and_disjoint():
    assert metrics.bleu(["a b c d e"], ["a b c d e"])["bleu"] == pytest.approx(100.0)
    assert metrics.bleu(["x y z"], ["a b c"])["bleu"] == 0.0


# ----------------------------------------------------------------- SQuAD (D102)


@pytest.mark.parametrize("text, expected", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  an   apple, a pear and THE plum ", "apple pear and plum"),
    ("Theatre", "theatre"),                       # article only as a whole word
    ("U.S.A.", "usa"),                            # punctuation deleted, not replaced by space
    ("a-the", "athe"),                            # punctuation removed before articles
])
def test_normalize_squad(text, expected):
    assert metrics.normalize_squad(text) == expected


def test_squad_em_f1_max_over_answers():
    targets = [["Denver Broncos", "The Denver Broncos"], ["1990"], ["in the garden"]]
    predictions = ["the denver broncos.", "in 1990", "garden shed"]
    out = metrics.squad(targets, predictions)
    # EM: 1, 0, 0 -> 33.33; F1: 1, 2*(1/2*1)/(1.5)=2/3, garden vs "in garden": p=1/2 r=1/2 -> 1/2
    assert out["em"] == pytest.approx(100 / 3)
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0.5) / 3)


# ----------------------------------------------------------------- averages (D105, D106)


def _table16_rows():
    with (PAPER_DIR / "table16_all_results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_glue_superglue_averages_reproduce_table16():
    """Spec D105/D106 (MUST keep): recomputed averages match the printed ones for every non-std row."""
    rows = [r for r in _table16_rows() if "standard deviation" not in r["experiment"]]
    assert len(rows) == 68
    worst = 0.0
    for r in rows:
        scores = {k: float(v) for k, v in r.items() if k not in ("table", "section", "experiment", "baseline_star")}
        for fn, key in ((metrics.glue_average, "glue_avg"), (metrics.superglue_average, "superglue_avg")):
            diff = abs(fn(scores) - scores[key])
            worst = max(worst, diff)
            assert diff <= 0.02, (r["experiment"], key, fn(scores), scores[key])
    assert worst > 0  # the check really compares something


def test_average_names_missing_metric():
    with pytest.raises(ValueError, match="cola_mcc"):
        metrics.glue_average({"sst2_acc": 90.0})


def test_get_metric_unknown_names_close_match():
    with pytest.raises(ValueError, match="did you mean rouge2"):
        metrics.get_metric("rouge_2")
