"""Pure parts of stage `evaluate` (spec D100, D107, M52, M73, M75): scoring, selection, layout, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from t5repro import io as io_lib
from t5repro.evaluate import predict


def test_score_classification_postprocesses_both_sides():
    targets = ["positive", "negative", "positive", "negative"]
    preds = ["positive", "positive", "pos", "negative"]   # "pos" is invalid -> -1 -> wrong (D100)
    assert predict.score(targets, preds, metric="accuracy", label_classes=["negative", "positive"]) == \
        {"accuracy": 50.0}


def test_score_rejects_gold_outside_label_classes():
    with pytest.raises(ValueError, match="not in task.label_classes"):
        predict.score(["neutral"], ["positive"], metric="accuracy", label_classes=["negative", "positive"])


def test_score_generation_uses_rouge():
    out = predict.score(["a b c ."], ["a b c ."], metric="rouge2", label_classes=None)
    assert out["rouge2"] == pytest.approx(100.0)
    assert {"rouge1", "rougeLsum", "rouge2_mean"} <= set(out)


def test_select_best_picks_max_and_earliest_tie():
    per = {300: {"accuracy": 80.0}, 100: {"accuracy": 85.0}, 200: {"accuracy": 85.0}}
    assert predict.select_best(per, "accuracy") == 100
    with pytest.raises(ValueError, match="no checkpoint"):
        predict.select_best({}, "accuracy")
    with pytest.raises(ValueError, match="missing at steps"):
        predict.select_best({1: {"f1": 1.0}}, "accuracy")


def test_decode_length_m75():
    assert predict.decode_length(4, 128) == 4
    assert predict.decode_length(512, 128) == 128


def test_eval_record_layout_roundtrips_json(tmp_path):
    per = {50: {"rouge1": 10.0, "rouge2": 3.0}, 100: {"rouge1": 12.0, "rouge2": 5.0},
           150: {"rouge1": 13.0, "rouge2": 4.0}}
    examples = [{"input": f"in {i}", "target": f"t {i}", "prediction": f"p {i}"} for i in range(7)]
    rec = predict.eval_record(task="smoke_gen", metric="rouge2", stands_in_for="cnndm_rouge2", per_checkpoint=per,
                              examples=examples, n_examples=200, max_decode_length=24, extra={"scale": "smoke"})
    path = tmp_path / "e.json"
    io_lib.write_json(path, rec)
    back = json.loads(path.read_text())
    assert back["best_step"] == 100 and back["best"] == {"rouge1": 12.0, "rouge2": 5.0}
    assert set(back["per_checkpoint"]) == {"50", "100", "150"}
    assert back["per_checkpoint"]["150"]["rouge2"] == 4.0
    assert len(back["examples"]) == 5 and back["examples"][0] == examples[0]
    for key in ("task", "metric", "stands_in_for", "n_examples", "max_decode_length", "scale"):
        assert key in back
    assert back["primary_key"] == "rouge2" and back["n_examples"] == 200


def test_batches_pad_to_fixed_shape():
    exs = [{"inputs": np.array([5, 6, 1])}, {"inputs": np.array([7, 1])}, {"inputs": np.arange(2, 12)}]
    got = list(predict.batches(exs, batch_size=2, input_length=4))
    assert [n for _, n in got] == [2, 1]
    assert all(a.shape == (2, 4) for a, _ in got)
    np.testing.assert_array_equal(got[0][0], [[5, 6, 1, 0], [7, 1, 0, 0]])
    np.testing.assert_array_equal(got[1][0], [[2, 3, 4, 5], [0, 0, 0, 0]])


def test_checkpoint_steps_and_restore_params(tmp_path):
    from t5repro.train.checkpoint import Checkpointer
    from t5repro.train.state import TrainState

    params = {"dense": {"kernel": jnp.ones((2, 3))}, "bias": jnp.arange(3.0)}
    opt = optax.adam(1e-3)
    state = TrainState.create(params, opt.init(params))
    ck = Checkpointer(tmp_path, period=1, async_save=False)
    for s in (50, 100):
        ck.save(state.replace(step=jnp.asarray(s, jnp.int32), params=jax.tree.map(lambda x: x * s, params)),
                {"step": s})
    ck.close()
    (tmp_path / "checkpoints" / "150.orbax-checkpoint-tmp-1").mkdir()  # an interrupted save is not a checkpoint
    assert predict.checkpoint_steps(tmp_path) == [50, 100]
    got = predict.restore_params(tmp_path, 100, like=jax.eval_shape(lambda: params))
    np.testing.assert_allclose(got["dense"]["kernel"], 100.0)
    np.testing.assert_allclose(got["bias"], [0.0, 100.0, 200.0])
    with pytest.raises(ValueError, match="do not match the configured model"):
        predict.restore_params(tmp_path, 100, like={"dense": {"kernel": jnp.ones((3, 3))}, "bias": jnp.ones(3)})


def test_checkpoint_steps_missing_dir_names_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="io.finetune_dir"):
        predict.checkpoint_steps(tmp_path)


class _FakeVocab:
    """Ids as text: decode up to and including the first EOS (1), skipping pad 0 (seqio's behaviour)."""

    vocab_size = 100

    def decode(self, ids):
        out = []
        for i in ids:
            if i == 1:
                break
            if i:
                out.append(str(i))
        return " ".join(out)


def test_predict_texts_with_tiny_model():
    from t5repro.models import T5, T5Config, init_params

    config = T5Config(vocab_size=128, d_model=8, d_ff=16, num_heads=2, d_kv=4, num_encoder_layers=1,
                      num_decoder_layers=1, dropout_rate=0.0)
    model = T5(config)
    params = init_params(model, jax.random.PRNGKey(0))
    exs = [{"inputs": np.array([5, 6, 7, 1])}, {"inputs": np.array([9, 1])}, {"inputs": np.array([3, 1])}]
    texts = predict.predict_texts(model, params, exs, _FakeVocab(), batch_size=2, input_length=6,
                                  max_decode_length=3)
    assert len(texts) == 3
    for t in texts:
        ids = [int(x) for x in t.split()]
        assert len(ids) <= 3 and all(0 < i < _FakeVocab.vocab_size for i in ids)  # D36: padded rows masked


# ----------------------------------------------------------------- decoding config and ensembles (M71, M73, M74)


def test_decoding_config_defaults_to_greedy_m73():
    from t5repro import config as config_lib
    from t5repro.models.decoding import DecodingConfig

    cfg = config_lib.load([])
    assert predict.decoding_config(cfg) == DecodingConfig(method="greedy", beam_size=4, alpha=0.6)
    beam = predict.decoding_config(config_lib.load(["decoding.method=beam", "decoding.alpha=0.0"]))
    assert (beam.method, beam.beam_size, beam.alpha) == ("beam", 4, 0.0)
    assert predict.ensemble_members(config_lib.load(["io.finetune_dir=/a"])) == [Path("/a")]


@pytest.mark.parametrize("override, key", [
    ("decoding.method=sampling", "decoding.method"),
    ("decoding.beam_size=0", "decoding.beam_size"),
    ("decoding.alpha=-0.5", "decoding.alpha"),
    ("decoding.ensemble_reduction=max", "decoding.ensemble_reduction"),
])
def test_decoding_config_bad_values_name_the_key(override, key):
    from t5repro import config as config_lib

    with pytest.raises(config_lib.ConfigError, match=key.replace(".", r"\.")):
        predict.decoding_config(config_lib.load([override]))


def test_ensemble_members_and_common_steps(tmp_path):
    from t5repro import config as config_lib

    cfg = config_lib.load([f"io.finetune_dir={tmp_path / 'a'}", f"io.ensemble_dirs=[{tmp_path / 'b'}]"])
    assert predict.ensemble_members(cfg) == [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(config_lib.ConfigError, match="io.ensemble_dirs repeats"):
        predict.ensemble_members(config_lib.load([f"io.finetune_dir={tmp_path / 'a'}",
                                                  f"io.ensemble_dirs=[{tmp_path / 'a'}]"]))
    for name, steps in (("a", (16, 32, 48)), ("b", (32, 48, 64))):
        for s in steps:
            (tmp_path / name / "checkpoints" / str(s)).mkdir(parents=True)
    (tmp_path / "c" / "checkpoints" / "8").mkdir(parents=True)
    assert predict.common_steps([tmp_path / "a", tmp_path / "b"]) == [32, 48]
    with pytest.raises(FileNotFoundError, match="no checkpoint step common"):
        predict.common_steps([tmp_path / "a", tmp_path / "c"])


def test_predict_texts_beam_and_ensemble_m71_m74():
    """`decoding` reaches the decoder: beam texts are the top beams; a list of params is an ensemble."""
    from t5repro.models import T5, T5Config, init_params
    from t5repro.models.decoding import DecodingConfig, beam_decode, beam_length_cap, greedy_decode

    config = T5Config(vocab_size=128, d_model=8, d_ff=16, num_heads=2, d_kv=4, num_encoder_layers=1,
                      num_decoder_layers=1, dropout_rate=0.0)
    model = T5(config)
    p0, p1 = (init_params(model, jax.random.PRNGKey(s)) for s in (0, 1))
    exs = [{"inputs": np.array([5, 6, 7, 1])}, {"inputs": np.array([9, 1])}]
    tokens = next(predict.batches(exs, batch_size=2, input_length=6))[0]
    vocab = _FakeVocab()
    beam = DecodingConfig(method="beam", beam_size=2, alpha=0.6)
    texts = predict.predict_texts(model, p0, exs, vocab, batch_size=2, input_length=6, max_decode_length=3,
                                  decoding=beam)
    seqs, _ = beam_decode(model, p0, tokens, max_decode_length=3, beam_size=2, alpha=0.6,
                          valid_vocab_size=vocab.vocab_size, decode_limit=beam_length_cap(tokens, 3))
    assert texts == [vocab.decode(row.tolist()) for row in seqs[:, 0]]
    ens = predict.predict_texts(model, [p0, p1], exs, vocab, batch_size=2, input_length=6, max_decode_length=3)
    ids = greedy_decode(model, [p0, p1], tokens, max_decode_length=3, valid_vocab_size=vocab.vocab_size)
    assert ens == [vocab.decode(row.tolist()) for row in ids]
