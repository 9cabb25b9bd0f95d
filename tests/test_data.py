"""Model batches: packing (D49), EncDecFeatureConverter (D50) and get_batches over the registered C4 task."""

from __future__ import annotations

import numpy as np
import seqio
import tensorflow as tf

from t5repro import data, tasks


def _spec_examples() -> tf.data.Dataset:
    """The D50 example: A = inputs [7,8,1] targets [3,1]; B = inputs [9,9,9,1] targets [5,6,1]."""
    rows = [([7, 8, 1], [3, 1]), ([9, 9, 9, 1], [5, 6, 1])]
    return tf.data.Dataset.from_generator(
        lambda: ({"inputs": np.array(i, np.int32), "targets": np.array(t, np.int32)} for i, t in rows),
        output_signature={"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)})


def test_packing_matches_spec_example():
    converter = seqio.EncDecFeatureConverter(pack=True)
    out = next(converter(_spec_examples(), {"inputs": 8, "targets": 6}).as_numpy_iterator())
    expected = {  # spec D49/D50 table
        "encoder_input_tokens": [7, 8, 1, 9, 9, 9, 1, 0],
        "encoder_segment_ids": [1, 1, 1, 2, 2, 2, 2, 0],
        "encoder_positions": [0, 1, 2, 0, 1, 2, 3, 0],
        "decoder_target_tokens": [3, 1, 5, 6, 1, 0],
        "decoder_input_tokens": [0, 3, 0, 5, 6, 0],
        "decoder_segment_ids": [1, 1, 2, 2, 2, 0],
        "decoder_positions": [0, 1, 0, 1, 2, 0],
        "decoder_loss_weights": [1, 1, 1, 1, 1, 0],
    }
    assert set(out) == set(data.PACKED_KEYS) == set(expected)
    assert {k: v.tolist() for k, v in out.items()} == expected


def test_unpacked_is_trimmed_and_padded():
    out = list(seqio.EncDecFeatureConverter(pack=False)(_spec_examples(), {"inputs": 8, "targets": 6})
               .as_numpy_iterator())
    assert set(out[0]) == set(data.UNPACKED_KEYS)  # D49: pack=False -> no segment ids / positions
    assert out[1]["encoder_input_tokens"].tolist() == [9, 9, 9, 1, 0, 0, 0, 0]
    assert out[1]["decoder_input_tokens"].tolist() == [0, 5, 6, 1, 0, 0]  # plain shift; loss weight 0 there
    assert out[1]["decoder_loss_weights"].tolist() == [1, 1, 1, 0, 0, 0]


def test_pretraining_batches(session_cfg):
    name = tasks.register_pretraining_task(session_cfg)
    lengths = {"inputs": 64, "targets": 16}
    batches = data.get_batches(name, split="train", sequence_length=lengths, batch_size=8, pack=True, seed=0)
    first = [next(batches) for _ in range(3)]
    b = first[0]
    assert set(b) == set(data.PACKED_KEYS)  # D50 contract
    for k, v in b.items():
        assert v.dtype == np.int32 and v.shape == (8, 64 if k.startswith("encoder") else 16), k
    vocab_size = tasks.output_features(str(session_cfg.io.vocab_model), 100)["targets"].vocabulary.vocab_size
    enc = b["encoder_input_tokens"]
    assert ((enc >= vocab_size - 100) & (enc < vocab_size)).any()  # sentinels present (D65)
    assert enc.max() < vocab_size and (b["decoder_target_tokens"] == 1).sum() >= 8  # every row ends an example
    np.testing.assert_array_equal(b["decoder_loss_weights"], b["decoder_target_tokens"] > 0)  # D50
    again = data.get_batches(name, split="train", sequence_length=lengths, batch_size=8, pack=True, seed=0)
    np.testing.assert_array_equal(next(again)["encoder_input_tokens"], enc)  # reproducible under a seed


def test_finite_unpacked_batches_keep_remainder(session_cfg):
    name = tasks.register_downstream_task(session_cfg)  # smoke_cls, 16 validation examples
    out = list(data.get_batches(name, split="validation", sequence_length={"inputs": 64, "targets": 4},
                                batch_size=5, pack=False, seed=0, shuffle=False, num_epochs=1))
    assert [len(b["encoder_input_tokens"]) for b in out] == [5, 5, 5, 1]
    assert set(out[0]) == set(data.UNPACKED_KEYS)
