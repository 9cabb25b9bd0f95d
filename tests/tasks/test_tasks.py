"""seqio Task registration: C4 pre-training (D40-D43, D72) and downstream tasks (D80, D81, D88, D101, D103)."""

from __future__ import annotations

import pytest
import seqio

from t5repro import config, tasks
from t5repro.tasks import downstream

LENGTHS = {"inputs": 64, "targets": 16}


def _examples(name, split="train", lengths=LENGTHS, n=4):
    ds = seqio.get_mixture_or_task(name).get_dataset(lengths, split=split, shuffle=False, seed=0)
    return list(ds.take(n).as_numpy_iterator())


def test_pretraining_task_pipeline(session_cfg):
    name = tasks.register_pretraining_task(session_cfg)
    assert name == "c4_iid_denoising" and name == tasks.register_pretraining_task(session_cfg)  # idempotent
    task = seqio.get_mixture_or_task(name)
    assert set(task.source.splits) == {"train", "validation"}
    assert task.output_features["inputs"].add_eos and not task.output_features["inputs"].required  # D40
    vocab = task.output_features["targets"].vocabulary
    for ex in _examples(name) + _examples(name, "validation"):
        assert set(ex) == {"inputs", "targets"}
        assert ex["inputs"][-1] == 1 and ex["targets"][-1] == 1  # D43: EOS after trim
        assert len(ex["inputs"]) <= 64 and len(ex["targets"]) <= 16
        sentinels = [t for t in ex["inputs"].tolist() if t >= vocab.vocab_size - 100]
        assert sentinels == list(range(vocab.vocab_size - 1, vocab.vocab_size - 1 - len(sentinels), -1))  # D64
        assert "<extra_id_0>" in vocab.decode(ex["inputs"].tolist() + ex["targets"].tolist())


def test_pretraining_task_is_deterministic(session_cfg):
    name = tasks.register_pretraining_task(session_cfg)
    a, b = _examples(name), _examples(name)
    assert all((x["inputs"] == y["inputs"]).all() and (x["targets"] == y["targets"]).all() for x, y in zip(a, b))


def test_unknown_objective_is_named(session_cfg, tmp_path):
    from omegaconf import open_dict

    cfg = session_cfg.copy()
    with open_dict(cfg):
        cfg.objective.name = "bert_stlye"
    with pytest.raises(config.ConfigError, match="objective.name='bert_stlye'"):
        tasks.register_pretraining_task(cfg)


def test_missing_vocab_path_is_named(tmp_path):
    cfg = config.load([f"io.c4_dir={tmp_path}"])
    with pytest.raises(config.ConfigError, match="io.vocab_model"):
        tasks.register_pretraining_task(cfg)


def _downstream_cfg(session_cfg, task):
    return config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                        f"io.task_data_dir={session_cfg.io.task_data_dir}", f"task={task}"])


def test_smoke_cls_text_to_text(session_cfg):
    cfg = _downstream_cfg(session_cfg, "smoke_cls")
    name = tasks.register_downstream_task(cfg)
    assert name == tasks.register_downstream_task(cfg) == "smoke_cls"
    for ex in _examples(name, "validation", dict(cfg.task.sequence_length), n=8):
        text = ex["inputs_pretokenized"].decode()
        assert text.startswith("sst2 sentence: ")  # D81
        assert ex["targets_pretokenized"].decode() == ["negative", "positive"][ex["label"]]  # D80
        assert ex["inputs"][-1] == 1 and ex["targets"][-1] == 1
    task = seqio.get_mixture_or_task(name)
    assert task.postprocess_fn(b"positive", is_target=True) == 1 and task.postprocess_fn("positiv") == -1  # D88
    assert task.metric_fns[0]([1, 0, 1, 1], [1, 0, -1, 1]) == {"accuracy": 75.0}  # D100/D101


def test_smoke_gen_text_to_text(session_cfg):
    cfg = _downstream_cfg(session_cfg, "smoke_gen")
    name = tasks.register_downstream_task(cfg)
    ex = _examples(name, "train", dict(cfg.task.sequence_length), n=1)[0]
    inputs = ex["inputs_pretokenized"].decode()
    assert inputs.startswith("summarize: ") and inputs[len("summarize: "):].startswith(
        ex["targets_pretokenized"].decode())  # D81
    task = seqio.get_mixture_or_task(name)
    assert task.postprocess_fn(b"a summary .", example={}, is_target=True) == "a summary ."  # identity (D88)
    assert task.metric_fns[0](["a b c"], ["a b c"])["rouge2"] == pytest.approx(100.0)  # D103


def test_glue_label_minus_one_is_unk():
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensors({"idx": tf.constant(3), "label": tf.constant(-1, tf.int64),
                                       "sentence": tf.constant("it was fine .")})
    out = next(downstream.glue_text_to_text(ds, benchmark="sst2", label_classes=["negative", "positive"],
                                            text_keys=["sentence"]).as_numpy_iterator())
    assert out["inputs"] == b"sst2 sentence: it was fine ." and out["targets"] == b"<unk>"  # D80


@pytest.mark.parametrize("task,tfds_name", [("sst2", "glue/sst2:2.0.0"), ("cnn_dailymail", "cnn_dailymail:3.4.0")])
def test_tfds_tasks_build_without_downloading(session_cfg, task, tfds_name, tmp_path):
    cfg = _downstream_cfg(session_cfg, task)
    name = tasks.register_downstream_task(cfg)
    source = seqio.get_mixture_or_task(name).source
    assert isinstance(source, seqio.TfdsDataSource) and source.tfds_dataset.name == tfds_name
    assert set(source.splits) == {"train", "validation", "test"}


def test_unknown_metric_is_named(session_cfg):
    from omegaconf import open_dict

    cfg = _downstream_cfg(session_cfg, "smoke_gen")
    with open_dict(cfg):
        cfg.task.metric = "rouge9"
    with pytest.raises(config.ConfigError, match="rouge9"):
        tasks.register_downstream_task(cfg)


@pytest.mark.parametrize("arch", ["encoder_decoder", "encoder_decoder_shared", "encoder_decoder_half"])
def test_targets_only_objective_needs_a_decoder_only_arch(session_cfg, arch):  # spec D51/D72, M32
    from t5repro import config

    io = session_cfg.io
    cfg = config.load([f"io.c4_dir={io.c4_dir}", f"io.vocab_model={io.vocab_model}", "objective=lm",
                       f"arch={arch}"])
    with pytest.raises(config.ConfigError, match=f"arch.name='{arch}' is an encoder-decoder"):
        tasks.register_pretraining_task(cfg)
    tasks.register_pretraining_task(config.load([f"io.c4_dir={io.c4_dir}", f"io.vocab_model={io.vocab_model}",
                                                 "objective=lm", "arch=decoder_only_lm"]))
