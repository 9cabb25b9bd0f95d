"""Postprocessors (spec D88)."""

from t5repro.evaluate.postprocess import identity, postprocessor, string_label_to_class_id


def test_string_label_to_class_id():
    classes = ["negative", "positive"]
    assert string_label_to_class_id("positive", classes) == 1
    assert string_label_to_class_id(b"negative", classes) == 0
    assert string_label_to_class_id("Positive", classes) == -1   # exact match only
    assert string_label_to_class_id("", classes) == -1


def test_postprocessor_dispatch():
    assert postprocessor(["no", "yes"])("yes") == 1
    assert postprocessor(None) is identity
    assert identity(b"caf\xc3\xa9") == "café"
