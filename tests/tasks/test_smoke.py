"""Stage `taskdata`: generated smoke tasks with TFDS schemas (glue/sst2, cnn_dailymail)."""

from __future__ import annotations

import json

from t5repro import config
from t5repro.tasks import smoke


def _load(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(tmp_path, seed=0):
    cfg = config.load([f"io.task_data_dir={tmp_path}", f"taskdata.seed={seed}", "taskdata.train_examples=101",
                       "taskdata.validation_examples=20"])
    smoke.run(cfg)
    return {(t, s): _load(tmp_path / t / f"{s}.jsonl") for t in ("smoke_cls", "smoke_gen") for s in smoke.SPLITS}


def test_files_schemas_and_sizes(tmp_path):
    out = _run(tmp_path)
    assert len(out["smoke_cls", "train"]) == 101 and len(out["smoke_gen", "validation"]) == 20
    assert all(set(r) == {"idx", "label", "sentence"} for r in out["smoke_cls", "train"])  # glue/sst2 schema
    assert all(set(r) == {"id", "article", "highlights"} for r in out["smoke_gen", "train"])  # cnn_dailymail
    assert [r["idx"] for r in out["smoke_cls", "validation"]] == list(range(20))
    assert not [p for p in tmp_path.rglob(".*")]  # atomic writes leave no temp files


def test_deterministic_in_seed(tmp_path):
    a, b, c = _run(tmp_path / "a"), _run(tmp_path / "b"), _run(tmp_path / "c", seed=1)
    assert a == b and a != c
    assert a["smoke_cls", "train"] != a["smoke_cls", "validation"][:20]


def test_cls_is_balanced_and_learnable(tmp_path):
    rows = _run(tmp_path)["smoke_cls", "train"]
    labels = [r["label"] for r in rows]
    assert set(labels) == {0, 1} and abs(labels.count(0) - labels.count(1)) <= 1
    for r in rows:  # the label is a function of the sentiment words
        words = set(r["sentence"].split())
        assert words & set(smoke.POSITIVE if r["label"] == 1 else smoke.NEGATIVE)
        assert not words & set(smoke.NEGATIVE if r["label"] == 1 else smoke.POSITIVE)


def test_gen_highlights_is_the_first_sentence(tmp_path):
    rows = _run(tmp_path)["smoke_gen", "train"]
    for r in rows:
        assert r["article"].startswith(r["highlights"] + " ")
        assert r["highlights"].endswith(" .") and r["highlights"].count(" . ") == 0
        assert len(r["article"].split()) <= 60
    assert len({r["highlights"] for r in rows}) > 90  # not one memorisable answer
