"""Evaluation: metrics (spec D101-D106), postprocessors (D88) and the `evaluate` stage (D100, D107, M73, M75)."""

from t5repro.evaluate.metrics import (
    accuracy,
    bleu,
    bleu_signature,
    f1_score_with_invalid,
    get_metric,
    glue_average,
    matthews_corrcoef,
    normalize_squad,
    rouge,
    squad,
    superglue_average,
)
from t5repro.evaluate.postprocess import identity, postprocessor, string_label_to_class_id

__all__ = [
    "accuracy",
    "bleu",
    "bleu_signature",
    "f1_score_with_invalid",
    "get_metric",
    "glue_average",
    "identity",
    "matthews_corrcoef",
    "normalize_squad",
    "postprocessor",
    "rouge",
    "squad",
    "string_label_to_class_id",
    "superglue_average",
]
