"""Evaluation metrics of the paper's tasks (§3.1.5; spec data.md D100-D106), all reported x100.

Each metric takes `(targets, predictions)` in that order (seqio's convention, T5 `t5/evaluation/metrics.py`)
and returns a dict `{metric key: value}`. Deviations from the reference implementation:
- no scikit-learn: it is not a dependency of the suite (pyproject.toml), and the three functions T5 takes
  from it (accuracy, binary F1, Matthews correlation) are a few lines of NumPy; the formulas below are
  sklearn's, including its conventions for degenerate inputs (0.0 when a denominator is 0);
- ROUGE's bootstrap aggregation runs under a fixed NumPy seed (D103 SHOULD), restoring the global state
  afterwards, and the deterministic per-example mean is returned beside it (`*_mean` keys).
"""

from __future__ import annotations

import collections
import logging
import re
import string
from typing import Any, Callable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeLsum")  # spec D103
ROUGE_SEED = 0

# sacrebleu.corpus_bleu keyword arguments, exactly as spec D104 / T5 `metrics.bleu`.
BLEU_KWARGS: dict[str, Any] = dict(smooth_method="exp", smooth_value=0.0, force=False, lowercase=False,
                                   tokenize="intl", use_effective_order=False)

# spec D105: the eight GLUE groups (WNLI and AX excluded), each the mean of its metrics. Keys are the
# column names of shared/paper/table16_all_results.csv, so the paper's rows and ours share one vocabulary.
GLUE_GROUPS: dict[str, tuple[str, ...]] = {
    "cola": ("cola_mcc",),
    "sst2": ("sst2_acc",),
    "mrpc": ("mrpc_f1", "mrpc_acc"),
    "stsb": ("stsb_pearson", "stsb_spearman"),
    "qqp": ("qqp_f1", "qqp_acc"),
    "mnli": ("mnli_m_acc", "mnli_mm_acc"),
    "qnli": ("qnli_acc",),
    "rte": ("glue_rte_acc",),
}
# spec D106: the eight SuperGLUE groups (DPR, AX-b, AX-g excluded).
SUPERGLUE_GROUPS: dict[str, tuple[str, ...]] = {
    "boolq": ("boolq_acc",),
    "cb": ("cb_f1", "cb_acc"),
    "copa": ("copa_acc",),
    "multirc": ("multirc_f1a", "multirc_em"),
    "record": ("record_f1", "record_em"),
    "rte": ("superglue_rte_acc",),
    "wic": ("wic_acc",),
    "wsc": ("wsc_acc",),
}


def _check_lengths(targets: Sequence, predictions: Sequence) -> None:
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")


# ----------------------------------------------------------------- classification (D101)


def accuracy(targets: Sequence, predictions: Sequence) -> dict[str, float]:
    """Accuracy x100 (D101); an invalid prediction (-1, D88) never equals a gold label, so it counts as wrong."""
    _check_lengths(targets, predictions)
    if not len(targets):
        raise ValueError("accuracy of an empty set is undefined")
    t, p = np.asarray(targets), np.asarray(predictions)
    return {"accuracy": 100.0 * float(np.mean(t == p))}


def _binary_f1(targets: np.ndarray, predictions: np.ndarray) -> float:
    """F1 of class 1 (sklearn `f1_score` default pos_label=1; 0.0 when there is no positive at all)."""
    tp = float(np.sum((predictions == 1) & (targets == 1)))
    fp = float(np.sum((predictions == 1) & (targets != 1)))
    fn = float(np.sum((predictions != 1) & (targets == 1)))
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else 2 * tp / denom


def f1_score_with_invalid(targets: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Binary F1 x100 where a prediction outside {0, 1} is first set to the wrong class `1 - gold` (D101, MRPC/QQP)."""
    _check_lengths(targets, predictions)
    t = np.asarray(targets, dtype=np.int64)
    p = np.array(predictions, dtype=np.int64)  # a copy: the caller's list is left alone
    invalid = (p != 0) & (p != 1)
    p[invalid] = 1 - t[invalid]
    return {"f1": 100.0 * _binary_f1(t, p)}


def matthews_corrcoef(targets: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """Matthews correlation x100 (D101, CoLA), sklearn's multiclass formula; -1 is kept as its own class."""
    _check_lengths(targets, predictions)
    t, p = np.asarray(targets), np.asarray(predictions)
    classes, idx = np.unique(np.concatenate([t, p]), return_inverse=True)
    ti, pi = idx[: len(t)], idx[len(t):]
    c = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(c, (ti, pi), 1.0)
    t_sum, p_sum = c.sum(axis=1), c.sum(axis=0)
    n_correct, n = np.trace(c), c.sum()
    cov_tp = n_correct * n - t_sum @ p_sum
    cov_pp = n * n - p_sum @ p_sum
    cov_tt = n * n - t_sum @ t_sum
    if cov_pp * cov_tt == 0:
        return {"matthews_corrcoef": 0.0}
    return {"matthews_corrcoef": 100.0 * float(cov_tp / np.sqrt(cov_tt * cov_pp))}


# ----------------------------------------------------------------- generation (D103, D104)


def _rouge_sentences(text: str) -> str:
    """D103: every ` . ` becomes ` .\\n`, so rougeLsum sees sentence boundaries."""
    return text.replace(" . ", " .\n")


def rouge(targets: Sequence[str], predictions: Sequence[str], *, seed: int = ROUGE_SEED) -> dict[str, float]:
    """ROUGE-1/2/Lsum F x100 (D103): rouge_score defaults (no stemming), bootstrap `mid` under a fixed seed.

    Also returns `rouge1_mean`, `rouge2_mean`, `rougeLsum_mean`: the plain mean F over examples, which does
    not depend on resampling (the bootstrap `mid` moves in the 2nd decimal with the seed).
    """
    from rouge_score import rouge_scorer, scoring

    _check_lengths(targets, predictions)
    if not len(targets):
        raise ValueError("ROUGE of an empty set is undefined")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES))  # use_stemmer=False by default (D103)
    aggregator = scoring.BootstrapAggregator()              # 1,000 resamples, 95 % interval
    per_type: dict[str, list[float]] = {k: [] for k in ROUGE_TYPES}
    for target, prediction in zip(targets, predictions):
        score = scorer.score(_rouge_sentences(str(target)), _rouge_sentences(str(prediction)))
        aggregator.add_scores(score)
        for k in ROUGE_TYPES:
            per_type[k].append(score[k].fmeasure)
    state = np.random.get_state()
    np.random.seed(seed)  # the aggregator resamples with np.random.choice
    try:
        result = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    out = {k: 100.0 * float(result[k].mid.fmeasure) for k in ROUGE_TYPES}
    out.update({f"{k}_mean": 100.0 * float(np.mean(v)) for k, v in per_type.items()})
    return out


def bleu_signature() -> str:
    """The sacrebleu signature of the D104 settings, to be logged with every BLEU score."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(lowercase=BLEU_KWARGS["lowercase"], force=BLEU_KWARGS["force"], tokenize=BLEU_KWARGS["tokenize"],
                  smooth_method=BLEU_KWARGS["smooth_method"], smooth_value=BLEU_KWARGS["smooth_value"],
                  effective_order=BLEU_KWARGS["use_effective_order"])
    metric.corpus_score(["x"], [["x"]])  # the signature records nrefs, known only after one scoring call
    return str(metric.get_signature())


def bleu(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Corpus SacreBLEU (D104): one reference per example, `exp` smoothing, `intl` tokenisation, detokenised text."""
    import sacrebleu

    _check_lengths(targets, predictions)
    score = sacrebleu.corpus_bleu(list(predictions), [list(targets)], **BLEU_KWARGS)
    logger.info("BLEU %.2f, signature %s", score.score, bleu_signature())
    return {"bleu": float(score.score)}


# ----------------------------------------------------------------- SQuAD (D102)


def normalize_squad(text: str) -> str:
    """Official SQuAD v1.1 normalisation (D102): lowercase, drop punctuation, articles -> space, squeeze spaces."""
    text = text.lower()
    punct = set(string.punctuation)
    text = "".join(ch for ch in text if ch not in punct)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(target: str, prediction: str) -> float:
    """Token-overlap F1 of two normalised strings on whitespace tokens; 0 without overlap (D102)."""
    pred, gold = prediction.split(), target.split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad(targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """SQuAD EM and F1 x100 (D102): per example the max over all gold answers, then the mean over examples."""
    _check_lengths(targets, predictions)
    if not len(targets):
        raise ValueError("SQuAD metrics of an empty set are undefined")
    em, f1 = [], []
    for answers, prediction in zip(targets, predictions):
        if isinstance(answers, str):
            answers = [answers]
        if not len(answers):
            raise ValueError("a SQuAD example needs at least one gold answer")
        p = normalize_squad(prediction)
        golds = [normalize_squad(a) for a in answers]
        em.append(max(float(g == p) for g in golds))
        f1.append(max(_token_f1(g, p) for g in golds))
    return {"em": 100.0 * float(np.mean(em)), "f1": 100.0 * float(np.mean(f1))}


# ----------------------------------------------------------------- benchmark averages (D105, D106)


def _group_average(scores: Mapping[str, float], groups: Mapping[str, tuple[str, ...]], name: str) -> float:
    missing = [k for keys in groups.values() for k in keys if k not in scores or scores[k] is None]
    if missing:
        raise ValueError(f"{name} average needs {', '.join(missing)}")
    return float(np.mean([np.mean([float(scores[k]) for k in keys]) for keys in groups.values()]))


def glue_average(scores: Mapping[str, float]) -> float:
    """GLUE average (D105): mean over 8 groups of each group's mean metric; keys as in table16_all_results.csv."""
    return _group_average(scores, GLUE_GROUPS, "GLUE")


def superglue_average(scores: Mapping[str, float]) -> float:
    """SuperGLUE average (D106): mean over 8 groups of each group's mean metric; keys as in table16."""
    return _group_average(scores, SUPERGLUE_GROUPS, "SuperGLUE")


# ----------------------------------------------------------------- registry: task.metric -> function


# `task.metric` (conf/task/*.yaml) -> (metric function, the key of its output that ranks checkpoints, D107).
METRICS: dict[str, tuple[Callable[..., dict[str, float]], str]] = {
    "accuracy": (accuracy, "accuracy"),
    "matthews_corrcoef": (matthews_corrcoef, "matthews_corrcoef"),
    "f1": (f1_score_with_invalid, "f1"),
    "rouge2": (rouge, "rouge2"),
    "bleu": (bleu, "bleu"),
    "squad_em": (squad, "em"),
}


def get_metric(name: str) -> tuple[Callable[..., dict[str, float]], str]:
    """(function, primary key) of `task.metric`; an unknown name raises listing the known ones."""
    if name not in METRICS:
        import difflib

        close = difflib.get_close_matches(name, list(METRICS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"task.metric={name!r} unknown (known: {', '.join(sorted(METRICS))}){hint}")
    return METRICS[name]
