"""Feature converters of the §3.2 architectures (spec data.md D49-D52, model.md M27, M28, Q1): t5repro.data."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
import tensorflow as tf

from t5repro import data

# The D50 pair: A = inputs [7,8,1] targets [3,1]; B = inputs [9,9,9,1] targets [5,6,1]; lengths 8 / 6.
PAIRS = [([7, 8, 1], [3, 1]), ([9, 9, 9, 1], [5, 6, 1])]
LENGTHS = {"inputs": 8, "targets": 6}


def _ds(rows: list[tuple[list[int], list[int]]]) -> tf.data.Dataset:
    return tf.data.Dataset.from_generator(
        lambda: ({"inputs": np.array(i, np.int32), "targets": np.array(t, np.int32)} for i, t in rows),
        output_signature={"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)})


def _targets_only(rows: list[list[int]]) -> tf.data.Dataset:
    return tf.data.Dataset.from_generator(lambda: ({"targets": np.array(t, np.int32)} for t in rows),
                                          output_signature={"targets": tf.TensorSpec([None], tf.int32)})


def _convert(arch: str, rows, lengths=LENGTHS, *, pack: bool, **kw) -> list[dict[str, list[int]]]:
    out = data.feature_converter(arch, pack=pack, **kw)(_ds(rows), lengths)
    return [{k: v.tolist() for k, v in e.items()} for e in out.as_numpy_iterator()]


def m28_region(rows, length: int) -> list[int]:
    """Spec M28, written from its words: per example the positions whose label (targets'[p]) is an inputs
    token incl. its EOS, plus the next position; examples laid out one after another when packed."""
    region = []
    for inputs, targets in rows:
        n = len(inputs) + len(targets)
        region += [1 if p < len(inputs) or p == len(inputs) else 0 for p in range(n)]
    return region + [0] * (length - len(region))


# ----------------------------------------------------------------- mapping (Table 2 rows -> converter)


@pytest.mark.parametrize("arch", ["encoder_decoder", "encoder_decoder_shared", "encoder_decoder_half"])
def test_encoder_decoder_archs_keep_encdec(arch):
    conv = data.feature_converter(arch, pack=True)
    assert type(conv) is seqio.EncDecFeatureConverter and conv.pack  # spec D50
    out = conv(_ds(PAIRS), LENGTHS)
    assert set(out.element_spec) == set(data.PACKED_KEYS) == set(data.model_keys(conv))


def test_decoder_only_converters_and_switch():
    lm = data.feature_converter("decoder_only_lm", pack=False)
    assert isinstance(lm, seqio.DecoderFeatureConverter) and not lm.pack
    assert lm.prefixlm_feature_converter.loss_on_targets_only is False  # M27: loss on every token
    prefix = data.feature_converter("prefix_lm", pack=True)
    assert prefix.prefixlm_feature_converter.loss_on_targets_only is True  # M28 / Q1 default
    full = data.feature_converter_from_cfg({"name": "prefix_lm", "loss_on_targets_only": False}, pack=True)
    assert full.prefixlm_feature_converter.loss_on_targets_only is False  # the reference gin's behaviour (Q1)
    assert data.feature_converter_from_cfg({"name": "prefix_lm"}, pack=True) \
        .prefixlm_feature_converter.loss_on_targets_only is True


def test_bad_arch_config_names_the_key():
    with pytest.raises(ValueError, match="arch.name 'decoder_only'.*prefix_lm"):
        data.feature_converter("decoder_only", pack=True)
    with pytest.raises(ValueError, match="arch.name is missing"):
        data.feature_converter_from_cfg({}, pack=True)
    with pytest.raises(ValueError, match="arch.loss_on_targets_only.*'decoder_only_lm'"):
        data.feature_converter_from_cfg({"name": "decoder_only_lm", "loss_on_targets_only": True}, pack=True)
    with pytest.raises(ValueError, match="arch.loss_on_targets_only must be true or false"):
        data.feature_converter_from_cfg({"name": "prefix_lm", "loss_on_targets_only": "yes"}, pack=True)


# ----------------------------------------------------------------- exact features of the hand-made pair


PACKED_TOKENS = {  # targets' = inputs ++ targets (D52): A = 7 8 1 3 1, B = 9 9 9 1 5 6 1; row length 8 + 6
    "decoder_target_tokens": [7, 8, 1, 3, 1, 9, 9, 9, 1, 5, 6, 1, 0, 0],
    "decoder_input_tokens": [0, 7, 8, 1, 3, 0, 9, 9, 9, 1, 5, 6, 0, 0],  # shifted, 0 at each segment start
    "decoder_segment_ids": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 0, 0],
    "decoder_positions": [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 0, 0],
    "decoder_causal_attention": [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0],  # len(inputs) + 1 per segment
}


def test_prefix_lm_packed_exact():
    (row,) = _convert("prefix_lm", PAIRS, pack=True)
    assert row == {**PACKED_TOKENS, "decoder_loss_weights": [0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0]}  # Q1


def test_decoder_only_lm_packed_exact():
    (row,) = _convert("decoder_only_lm", PAIRS, pack=True)
    # M27: [inputs…, EOS, targets…, EOS] per example, loss on every non-pad position. The converter also
    # emits decoder_causal_attention, which the causal LM ignores (models/decoder_only.py).
    assert row == {**PACKED_TOKENS, "decoder_loss_weights": [1] * 12 + [0, 0]}
    assert set(row) == set(data.model_keys(data.feature_converter("decoder_only_lm", pack=True)))


def test_prefix_lm_unpacked_exact():
    a, b = _convert("prefix_lm", PAIRS, pack=False)
    assert set(a) == set(data.model_keys(data.feature_converter("prefix_lm", pack=False)))  # no segment ids
    assert a == {
        "decoder_target_tokens": [7, 8, 1, 3, 1] + [0] * 9,
        "decoder_input_tokens": [0, 7, 8, 1, 3, 1] + [0] * 8,  # plain shift; loss weight 0 where EOS spills
        "decoder_causal_attention": [1, 1, 1, 1] + [0] * 10,
        "decoder_loss_weights": [0, 0, 0, 1, 1] + [0] * 9,
    }
    assert b["decoder_target_tokens"] == [9, 9, 9, 1, 5, 6, 1] + [0] * 7
    assert b["decoder_causal_attention"] == [1] * 5 + [0] * 9
    assert b["decoder_loss_weights"] == [0, 0, 0, 0, 1, 1, 1] + [0] * 7
    assert [e["decoder_loss_weights"] for e in _convert("decoder_only_lm", PAIRS, pack=False)] == \
        [[1] * 5 + [0] * 9, [1] * 7 + [0] * 7]


def test_targets_only_task_is_a_plain_lm():
    conv = data.feature_converter("decoder_only_lm", pack=True)
    (row,) = [{k: v.tolist() for k, v in e.items()}
              for e in conv(_targets_only([[3, 9, 1], [4, 1]]), {"targets": 6}).as_numpy_iterator()]
    assert row == {  # D51 (seqio LMFeatureConverter's example)
        "decoder_target_tokens": [3, 9, 1, 4, 1, 0], "decoder_input_tokens": [0, 3, 9, 0, 4, 0],
        "decoder_loss_weights": [1, 1, 1, 1, 1, 0], "decoder_segment_ids": [1, 1, 1, 2, 2, 0],
        "decoder_positions": [0, 1, 2, 0, 1, 0]}
    assert set(row) == set(data.model_keys(conv, has_inputs=False))


# ----------------------------------------------------------------- seqio's region vs spec M28


def _random_pairs(rng: np.random.Generator, n: int) -> list[tuple[list[int], list[int]]]:
    """Pairs ending in EOS (D43), inputs 1-8 tokens, targets 1-6 tokens, no 0 (padding) inside."""
    return [(rng.integers(3, 50, rng.integers(0, 8)).tolist() + [1], rng.integers(3, 50, rng.integers(0, 6)).tolist()
             + [1]) for _ in range(n)]


@pytest.mark.parametrize("pack", [False, True])
def test_causal_attention_is_the_m28_region(pack):
    rng = np.random.default_rng(0)
    rows = _random_pairs(rng, 60)
    out = _convert("prefix_lm", rows, pack=pack)
    length = LENGTHS["inputs"] + LENGTHS["targets"]
    if not pack:
        assert len(out) == len(rows)
        for e, r in zip(out, rows):
            assert e["decoder_causal_attention"] == m28_region([r], length)
        return
    i = 0
    for e in out:  # greedy, order-preserving packing (D49): recover which examples each row holds
        seg = np.array(e["decoder_segment_ids"])
        k = int(seg.max())
        held = rows[i:i + k]
        i += k
        assert e["decoder_target_tokens"][:int((seg > 0).sum())] == [t for a, b in held for t in a + b]
        assert e["decoder_causal_attention"] == m28_region(held, length)  # seqio agrees with M28, packed
        for j, (a, b) in enumerate(held, start=1):  # loss on the targets part only (Q1 default)
            w = np.array(e["decoder_loss_weights"])[seg == j]
            assert w.tolist() == [0] * len(a) + [1] * len(b)
        assert all(len(v) == length for v in e.values())  # lengths never exceeded (D49)
    assert i == len(rows)  # no example lost or split


def test_targets_only_task_batches_and_errors(session_cfg):
    from t5repro import config, tasks

    cfg = config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                       f"vocab.size={session_cfg.vocab.size}", "arch=decoder_only_lm", "objective=lm"])
    name = tasks.register_pretraining_task(cfg)
    lengths = {"inputs": 32, "targets": 32}
    conv = data.feature_converter("decoder_only_lm", pack=True)
    batch = next(data.get_batches(name, split="train", sequence_length=lengths, batch_size=2, pack=True, seed=0,
                                  converter=conv))
    assert set(batch) == set(data.model_keys(conv, has_inputs=False))  # LMFeatureConverter (D51): no prefix
    assert batch["decoder_target_tokens"].shape == (2, 32)  # targets-only: L_targets, not L_in + L_t
    np.testing.assert_array_equal(batch["decoder_loss_weights"], batch["decoder_target_tokens"] > 0)
    with pytest.raises(ValueError, match="targets only.*decoder-only arch.name"):
        data.model_features(name, split="train", sequence_length=lengths, pack=True, seed=0)
    with pytest.raises(ValueError, match="pack=False but the feature converter was built with pack=True"):
        data.model_features(name, split="train", sequence_length=lengths, pack=False, seed=0, converter=conv)


def test_prefix_lm_batches_from_registered_task(session_cfg):
    from t5repro import config, tasks

    cfg = config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                       f"vocab.size={session_cfg.vocab.size}", "arch=prefix_lm", "objective=prefix_lm"])
    name = tasks.register_pretraining_task(cfg)
    conv = data.feature_converter_from_cfg(cfg.arch, pack=True)
    b = next(data.get_batches(name, split="train", sequence_length={"inputs": 32, "targets": 32}, batch_size=4,
                              pack=True, seed=0, converter=conv))
    assert set(b) == set(data.model_keys(conv)) and b["decoder_target_tokens"].shape == (4, 64)
    seg, pos = b["decoder_segment_ids"], b["decoder_positions"]
    for r in range(4):
        for j in range(1, int(seg[r].max()) + 1):  # per packed example: region = inputs + EOS + one (M28)
            at = seg[r] == j
            n_in = int(np.argmax(b["decoder_target_tokens"][r][at] == 1)) + 1  # inputs end at their EOS (D43)
            assert b["decoder_causal_attention"][r][at].tolist() == (pos[r][at] <= n_in).astype(int).tolist()
            assert b["decoder_loss_weights"][r][at].tolist() == (pos[r][at] >= n_in).astype(int).tolist()
