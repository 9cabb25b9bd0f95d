"""Which experiments share one pre-training run (t5repro.experiments; Table 10's rows, §3.5.1)."""

from __future__ import annotations

from t5repro import config as config_lib
from t5repro import experiments


def _key(*overrides: str) -> str:
    return experiments.pretraining_key(config_lib.load(list(overrides)))


def test_finetuning_only_keys_do_not_split_pretraining():
    base = _key("experiment=table01/baseline")
    assert _key("experiment=table10/adapters_32") == base  # only finetune_method differs
    assert _key("experiment=table01/baseline", "task=smoke_gen", "finetune.steps=7") == base


def test_pretraining_keys_do_split_it():
    base = _key("experiment=table01/baseline")
    assert _key("experiment=table01/baseline", "pretrain.steps=7") != base
    assert _key("experiment=table01/baseline", "objective.noise_density=0.25") != base
    assert _key("experiment=table01/baseline", "seed=1") != base
    assert _key("experiment=table07/span_3") != base


def test_shared_pretraining_maps_rows_to_the_first_equal_one():
    owners = experiments.shared_pretraining(
        ["table10/gradual_unfreezing", "table01/baseline", "table10/adapters_128", "table06/rate_15",
         "table05/replace_corrupted_spans", "table06/rate_25"], "smoke")
    assert owners == {
        "table10/gradual_unfreezing": "table10/gradual_unfreezing",
        "table01/baseline": "table10/gradual_unfreezing",
        "table10/adapters_128": "table10/gradual_unfreezing",
        "table06/rate_15": "table10/gradual_unfreezing",  # the baseline's 15 % under Table 6's name
        "table05/replace_corrupted_spans": "table10/gradual_unfreezing",  # the baseline objective (D72)
        "table06/rate_25": "table06/rate_25",
    }
