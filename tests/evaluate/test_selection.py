"""Checkpoint selection per task and per metric group (spec D107, M52, M63)."""

from __future__ import annotations

import pytest

from t5repro.evaluate import metrics, predict, selection


def test_group_is_ranked_by_its_mean_not_its_first_key():
    per = {1000: {"mrpc_f1": 90.0, "mrpc_acc": 70.0}, 2000: {"mrpc_f1": 85.0, "mrpc_acc": 85.0}}
    sel = selection.select_group(per, ["mrpc_f1", "mrpc_acc"])
    assert (sel.step, sel.value, sel.scores) == (2000, 85.0, {"mrpc_f1": 85.0, "mrpc_acc": 85.0})
    assert predict.select_best(per, "mrpc_f1") == 1000  # the primary key alone picks another step


def test_single_key_group_agrees_with_select_best():
    per = {300: {"accuracy": 80.0}, 100: {"accuracy": 85.0}, 200: {"accuracy": 85.0}}
    assert selection.select_group(per, ["accuracy"]).step == predict.select_best(per, "accuracy") == 100


def test_glue_average_takes_each_group_at_its_own_step_d107():
    """Two checkpoints; CoLA peaks at the first, every other group at the second."""
    early = {k: 50.0 for keys in metrics.GLUE_GROUPS.values() for k in keys} | {"cola_mcc": 60.0}
    late = {k: 70.0 for keys in metrics.GLUE_GROUPS.values() for k in keys} | {"cola_mcc": 20.0}
    per = {5000: early, 10000: late}
    average, sel = selection.benchmark_score(per, metrics.GLUE_GROUPS)
    assert sel["cola"].step == 5000 and all(sel[g].step == 10000 for g in metrics.GLUE_GROUPS if g != "cola")
    assert average == pytest.approx((60.0 + 7 * 70.0) / 8)
    # the per-group maxima, put together, are scored by the D105 formula
    combined = {k: v for s in sel.values() for k, v in s.scores.items()}
    assert metrics.glue_average(combined) == pytest.approx(average)
    # T5's "Average GLUE Score" column (best single step) is lower here: (20 + 7 * 70) / 8
    single = selection.best_of_average(per, metrics.GLUE_GROUPS)
    assert single.step == 10000 and single.value == pytest.approx((20.0 + 7 * 70.0) / 8)
    assert single.value < average


def test_multitask_run_selects_each_task_independently_m63():
    per_task = {
        "smoke_cls": {1000: {"accuracy": 90.0}, 2000: {"accuracy": 80.0}, 3000: {"accuracy": 85.0}},
        "smoke_gen": {1000: {"rouge2": 5.0}, 2000: {"rouge2": 9.0}, 3000: {"rouge2": 7.0}},
    }
    sel = selection.select_per_task(per_task, {"smoke_cls": ["accuracy"], "smoke_gen": ["rouge2"]})
    assert {t: s.step for t, s in sel.items()} == {"smoke_cls": 1000, "smoke_gen": 2000}
    assert sel["smoke_gen"].value == 9.0
    with pytest.raises(ValueError, match="no ranking metric"):
        selection.select_per_task(per_task, {"smoke_cls": ["accuracy"]})


def test_selection_errors_name_the_problem():
    with pytest.raises(ValueError, match="no checkpoint"):
        selection.select_group({}, ["accuracy"])
    with pytest.raises(ValueError, match=r"'mrpc_acc' missing at steps \[2\]"):
        selection.select_group({1: {"mrpc_f1": 1.0, "mrpc_acc": 1.0}, 2: {"mrpc_f1": 1.0}}, ["mrpc_f1", "mrpc_acc"])
