"""Objectives as pure token functions and seqio preprocessors: spec data.md D44-D47, D60-D73."""

from __future__ import annotations

import numpy as np
import pytest
import seqio
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from t5repro import objectives as obj

V = 32100  # full vocabulary size incl. 100 extra ids (D33)
FEATURES = {"targets": seqio.Feature(seqio.PassThroughVocabulary(size=V), add_eos=True)}
fast = settings(max_examples=40, deadline=None)


def seeds(a: int) -> tf.Tensor:
    return tf.constant([[a, 1], [a, 2], [a, 3], [a, 4], [a, 5], [a, 6]], tf.int32)


def spans(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True."""
    out, i = [], 0
    while i < len(mask):
        if mask[i]:
            j = i
            while j < len(mask) and mask[j]:
                j += 1
            out.append((i, j - i))
            i = j
        else:
            i += 1
    return out


def reconstruct(inputs: list[int], targets: list[int]) -> list[int]:
    """Undo D65/D66: the k-th sentinel of inputs becomes the k-th run of plain tokens in targets.

    (When the first token is noise - possible with D61, never with D62 - targets start with a plain run and
    their sentinels name the non-noise spans, so "sentinel j in both refers to the same gap" does not hold.)
    """
    runs, current = [], None
    for t in targets:
        if t >= V - 100:
            current = None
        else:
            if current is None:
                current = []
                runs.append(current)
            current.append(t)
    out, k = [], 0
    for t in inputs:
        if t >= V - 100:
            out += runs[k]
            k += 1
        else:
            out.append(t)
    assert k == len(runs)
    return out


# ----------------------------------------------------------------- D62 random_spans_noise_mask


def test_random_spans_reference_case():
    mask = obj.random_spans_noise_mask(32, 0.25, seeds(7)[:2], mean_noise_span_length=2.0).numpy()
    assert mask.sum() == 8 and len(spans(mask)) == 4  # spec D62 (T5 preprocessors_test)
    assert not mask[0] and mask[-1]


@fast
@given(length=st.integers(2, 300), d=st.sampled_from([0.1, 0.15, 0.25, 0.5]), mu=st.sampled_from([2.0, 3.0, 5.0, 10.0]),
       seed=st.integers(0, 2**20))
def test_random_spans_exact_counts(length, d, mu, seed):
    mask = obj.random_spans_noise_mask(length, d, seeds(seed)[:2], mean_noise_span_length=mu).numpy()
    n = min(max(round(length * d), 1), length - 1)  # spec D62 step 2 (Python round = half to even)
    s = max(round(n / mu), 1)
    assert mask.shape == (length,) and mask.sum() == n
    assert len(spans(mask)) == s
    assert not mask[0] and mask[-1]  # starts non-noise, ends noise (C6)


def test_random_spans_edge_cases():
    assert not obj.random_spans_noise_mask(10, 0.0, seeds(0)[:2]).numpy().any()  # D62 step 1
    assert obj.random_spans_noise_mask(1, 0.15, seeds(0)[:2]).numpy().tolist() == [False]  # L' = 2, cut to 1


def test_random_spans_rejects_too_dense():
    with pytest.raises(tf.errors.InvalidArgumentError, match="D62"):
        obj.random_spans_noise_mask(7, 0.9, seeds(0)[:2])  # n = 6 in s = 2 spans leaves 1 token for 2 gaps


def test_random_composition_is_uniformish():
    counts = {}
    for a in range(300):
        c = tuple(obj.random_composition(5, 2, tf.constant([a, 0])).numpy().tolist())
        counts[c] = counts.get(c, 0) + 1
    assert set(counts) == {(1, 4), (2, 3), (3, 2), (4, 1)}  # all 4 compositions of 5 into 2 parts
    assert min(counts.values()) > 40


# ----------------------------------------------------------------- D73 worked example, D64-D67


def test_d73_worked_example():
    tokens = tf.range(100, 131)
    mask = obj.interleave_spans(tf.constant([10, 16]), tf.constant([2, 3]), 31)
    assert np.flatnonzero(mask.numpy()).tolist() == [10, 11, 28, 29, 30]
    inputs = obj.noise_span_to_unique_sentinel(tokens, mask, V).numpy().tolist() + [1]
    targets = obj.nonnoise_span_to_unique_sentinel(tokens, mask, V).numpy().tolist() + [1]
    assert inputs == list(range(100, 110)) + [32099] + list(range(112, 128)) + [32098, 1]  # spec D73
    assert len(inputs) == 29
    assert targets == [32099, 110, 111, 32098, 128, 129, 130, 1]  # spec D73


def test_d73_lengths_and_half_even():
    assert obj.random_spans_noise_mask(31, 0.15, seeds(1)[:2]).numpy().sum() == 5  # n = round(4.65)
    m30 = obj.random_spans_noise_mask(30, 0.15, seeds(1)[:2]).numpy()
    assert m30.sum() == 4 and len(spans(m30)) == 1  # round(4.5) = 4, s = round(4/3) = 1


def test_sentinels_are_computed_from_vocab_size():
    assert obj.sentinel_id(32100) == 32099 and obj.sentinel_id(32100, 99) == 32000  # spec D33/D64
    out = obj.noise_span_to_unique_sentinel(tf.constant([5, 6, 7]), tf.constant([True, False, True]), 500)
    assert out.numpy().tolist() == [499, 6, 498]  # another vocab size, another sentinel range


def test_drop_tokens():
    x, m = tf.constant([5, 6, 7, 8]), tf.constant([False, True, True, False])
    assert obj.drop_noise_tokens(x, m, V).numpy().tolist() == [5, 8]  # spec D67
    assert obj.drop_nonnoise_tokens(x, m, V).numpy().tolist() == [6, 7]


@fast
@given(length=st.integers(1, 200), d=st.sampled_from([0.15, 0.5, 0.9]), iid=st.booleans(), seed=st.integers(0, 2**20))
def test_inputs_and_targets_reconstruct_the_original(length, d, iid, seed):
    if not iid:
        d = min(d, 0.5)  # D62 is defined for the paper's densities; see test_random_spans_rejects_too_dense
    tokens = tf.range(3, 3 + length)
    fn = obj.iid_noise_mask if iid else obj.random_spans_noise_mask
    out = obj.denoise_tokens(tokens, vocab_size=V, noise_density=d, noise_mask_fn=fn,
                             inputs_fn=obj.noise_span_to_unique_sentinel,
                             targets_fn=obj.nonnoise_span_to_unique_sentinel, seeds=seeds(seed))
    inputs, targets = out["inputs"].numpy().tolist(), out["targets"].numpy().tolist()
    assert reconstruct(inputs, targets) == list(range(3, 3 + length))  # no token lost (D65/D66)
    s_in = [t for t in inputs if t >= V - 100]
    s_tg = [t for t in targets if t >= V - 100]
    assert s_in == list(range(V - 1, V - 1 - len(s_in), -1))  # sentinels in order, counting down (D64)
    assert s_tg == list(range(V - 1, V - 1 - len(s_tg), -1))
    assert abs(len(s_in) - len(s_tg)) <= 1
    assert len(inputs) <= length and len(targets) <= length + 1


def test_iid_noise_density_and_determinism():
    masks = [obj.iid_noise_mask(10000, 0.15, seeds(s)).numpy() for s in (3, 3, 4)]
    assert abs(masks[0].mean() - 0.15) < 0.015  # spec D61
    assert (masks[0] == masks[1]).all() and not (masks[0] == masks[2]).all()


# ----------------------------------------------------------------- D44-D47 chunking and lengths


def _ds(docs: list[list[int]]) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(tf.ragged.constant(docs, dtype=tf.int32)).map(
        lambda t: {"targets": t, "inputs": tf.zeros([0], tf.int32)})


def _targets(ds: tf.data.Dataset) -> list[list[int]]:
    return [e["targets"].tolist() for e in ds.as_numpy_iterator()]


def test_select_random_chunk():
    with seqio.map_seed_manager(0):
        ds = obj.select_random_chunk(_ds([[], [4] * 10, list(range(3, 30))]), max_length=8)
    out = _targets(ds)
    assert len(out) == 2  # spec D44: empty examples dropped
    assert out[0] == [4] * 8 or out[0] == [4, 4]  # an aligned chunk [8j, min(8j+8, n))
    assert out[1] in [list(range(3, 30))[i:i + 8] for i in (0, 8, 16, 24)]


def test_reduce_concat_and_split():
    docs = [[5] * 4, [6] * 3, [7] * 9]
    out = _targets(obj.reduce_concat_tokens(_ds(docs), batch_size=2))
    assert out == [[5] * 4 + [6] * 3, [7] * 9]  # spec D45: no separator, no EOS, remainder batch kept
    out = _targets(obj.split_tokens(_ds([list(range(3, 13)), [], [9]]), max_tokens_per_segment=4))
    assert out == [[3, 4, 5, 6], [7, 8, 9, 10], [11, 12], [9]]  # spec D46


@pytest.mark.parametrize("mu,d,expected", [
    (2, 0.15, (552, 126)), (3, 0.15, (568, 114)), (5, 0.15, (581, 105)), (10, 0.15, (591, 99)),
    (3, 0.10, (548, 74)), (3, 0.25, (614, 206)), (3, 0.50, (766, 512)),
])
def test_random_spans_helper_table(mu, d, expected):
    assert obj.random_spans_helper(512, d, mu) == expected  # spec D47 table


def _pipeline(fn, sequence_length, seed=1):
    docs = [list(range(3, 3 + n)) for n in (40, 75, 120, 9, 300)]
    with seqio.map_seed_manager(seed):
        ds = fn(_ds(docs), sequence_length=sequence_length, output_features=FEATURES)
    return [{k: v.tolist() for k, v in e.items()} for e in ds.as_numpy_iterator()], docs


def test_iid_denoising_pipeline():
    out, docs = _pipeline(obj.iid_denoising, {"inputs": 64, "targets": 16})
    whole = [t for d in docs for t in d]
    pieces = [reconstruct(e["inputs"], e["targets"]) for e in out]
    assert [t for p in pieces for t in p] == whole  # D45 concat then D46 split at 63 tokens, nothing lost
    assert all(len(p) == 63 for p in pieces[:-1])
    assert all(len(e["inputs"]) <= 63 for e in out)  # + EOS (D43) fits 64
    again, _ = _pipeline(obj.iid_denoising, {"inputs": 64, "targets": 16})
    other, _ = _pipeline(obj.iid_denoising, {"inputs": 64, "targets": 16}, seed=2)
    assert again == out and other != out  # deterministic under a seed (D60)


def test_span_corruption_pipeline_lengths():
    out, docs = _pipeline(obj.span_corruption, {"inputs": 32, "targets": 12})
    t_star, t_len = obj.random_spans_helper(32, 0.15, 3.0)
    assert [len(reconstruct(e["inputs"], e["targets"])) for e in out][:-1] == [t_star] * (len(out) - 1)
    assert all(len(e["inputs"]) + 1 <= 32 and len(e["targets"]) + 1 <= t_len for e in out)  # D47 budget
    with pytest.raises(ValueError, match="D47"):
        _pipeline(obj.span_corruption, {"inputs": 32, "targets": t_len - 1})


# ----------------------------------------------------------------- D63 random_prefix_noise_mask


@fast
@given(length=st.integers(1, 400), d=st.sampled_from([0.0, 0.1, 0.25, 0.5]), seed=st.integers(0, 2**20))
def test_random_prefix_bounds(length, d, seed):
    mask = obj.random_prefix_noise_mask(length, d, seeds(seed)[:2]).numpy()
    k = int(mask.sum())
    assert mask.tolist() == [True] * k + [False] * (length - k)  # a prefix (D63)
    k_min = min(length - 1, max(1, round((1 - 2 * d) * (length - 1))))  # Python round: half to even
    assert k_min <= k <= length - 1


def test_random_prefix_half_is_uniform_over_cuts():
    counts = np.bincount([int(obj.random_prefix_noise_mask(5, 0.5, seeds(a)[:2]).numpy().sum()) for a in range(400)],
                         minlength=5)
    assert counts[0] == 0 and min(counts[1:]) > 70  # k uniform in [1, L-1] = [1, 4] (D63, d = 0.5)
    with pytest.raises(ValueError, match="D63"):
        obj.random_prefix_noise_mask(5, 0.6, seeds(0)[:2])


# ----------------------------------------------------------------- D61 density, D68-D71 pieces


@pytest.mark.parametrize("d", [0.1, 0.15, 0.25, 0.5])
def test_iid_density_in_expectation(d):
    fractions = [obj.iid_noise_mask(4000, d, seeds(s)).numpy().mean() for s in range(10)]
    assert abs(np.mean(fractions) - d) < 0.008  # E[mask] = d (D61); std of the mean ~0.0025 at d = 0.5
    assert obj.iid_noise_mask(50, 1.0, seeds(0)).numpy().all()  # deshuffling: d = 1 corrupts everything


def test_mask_token_and_span_encodings():
    x, m = tf.constant([5, 6, 7, 8, 9]), tf.constant([False, True, True, False, True])
    assert obj.noise_token_to_sentinel(x, m, V).numpy().tolist() == [5, V - 1, V - 1, 8, V - 1]  # D68 "m"
    assert obj.noise_span_to_sentinel(x, m, V).numpy().tolist() == [5, V - 1, 8, V - 1]  # D68 "s"
    assert obj.noise_token_to_sentinel(x, m, 500).numpy().tolist()[1] == 499  # from the vocabulary size (D64)


def test_random_token_range_and_determinism():
    x = tf.fill([5000], 7)
    m = tf.constant([True, False] * 2500)
    out = obj.noise_token_to_random_token(x, m, 50, seeds(1)[2:4]).numpy()
    assert (out[1::2] == 7).all()  # non-noise unchanged
    assert out[0::2].min() == 3 and out[0::2].max() == 49  # uniform over [3, V), sentinels included (D69)
    assert (out == obj.noise_token_to_random_token(x, m, 50, seeds(1)[2:4]).numpy()).all()
    assert not (out == obj.noise_token_to_random_token(x, m, 50, seeds(2)[2:4]).numpy()).all()


def test_bert_style_split_statistics():
    v, n = 13, 60000  # a small vocabulary makes "random token = original" frequent enough to measure
    x = tf.fill([n], 5)
    m = tf.constant(np.arange(n) % 4 != 0)  # 3/4 noise
    out = obj.noise_token_to_random_token_or_sentinel(x, m, v, seeds(3)[2:4]).numpy()
    noise, clean = out[m.numpy()], out[~m.numpy()]
    assert (clean == 5).all()
    p_random, p_same = 0.1, 1 / (v - 3)
    assert abs((noise == v - 1).mean() - (0.9 + p_random * p_same)) < 0.006  # 90 % mask id (D70)
    assert abs(((noise != v - 1) & (noise != 5)).mean() - p_random * (1 - 2 * p_same)) < 0.006  # 10 % random
    # No "keep" branch: a noise token survives only when the random draw equals it (0.1 x 1/10 = 1 %, not 10 %).
    assert abs((noise == 5).mean() - p_random * p_same) < 0.003
    assert ((noise >= 3) & (noise < v)).all()


@fast
@given(length=st.integers(1, 120), seed=st.integers(0, 2**20))
def test_deshuffle_is_a_permutation(length, seed):
    tokens = tf.range(3, 3 + length)
    out = obj.denoise_tokens(tokens, vocab_size=V, noise_density=1.0, noise_mask_fn=obj.iid_noise_mask,
                             inputs_fn=obj.permute_noise_tokens, targets_fn=None, seeds=seeds(seed))
    inputs = out["inputs"].numpy().tolist()
    assert sorted(inputs) == list(range(3, 3 + length)) and out["targets"].numpy().tolist() == sorted(inputs)  # D71


def test_permute_keeps_non_noise_in_place():
    x, m = tf.range(10, 30), tf.constant([i % 3 == 0 for i in range(20)])
    out = obj.permute_noise_tokens(x, m, V, seeds(5)[2:4]).numpy()
    mk = m.numpy()
    assert (out[~mk] == x.numpy()[~mk]).all() and sorted(out[mk]) == sorted(x.numpy()[mk])
    assert not (out[mk] == x.numpy()[mk]).all()


@fast
@given(length=st.integers(1, 150), d=st.sampled_from([0.15, 0.5]), seed=st.integers(0, 2**20))
def test_mass_and_drop_tokens_properties(length, d, seed):
    tokens = list(range(3, 3 + length))
    kw = dict(vocab_size=V, noise_density=d, noise_mask_fn=obj.iid_noise_mask, seeds=seeds(seed))
    mass = obj.denoise_tokens(tf.constant(tokens), inputs_fn=obj.noise_token_to_sentinel, targets_fn=None, **kw)
    inputs = mass["inputs"].numpy().tolist()
    assert mass["targets"].numpy().tolist() == tokens  # MASS: target = original (D72)
    assert len(inputs) == length and all(i in (t, V - 1) for i, t in zip(inputs, tokens))
    drop = obj.denoise_tokens(tf.constant(tokens), inputs_fn=obj.drop_noise_tokens,
                              targets_fn=obj.drop_nonnoise_tokens, **kw)
    kept, dropped = drop["inputs"].numpy().tolist(), drop["targets"].numpy().tolist()
    assert sorted(kept + dropped) == tokens and kept == sorted(kept) and dropped == sorted(dropped)  # partition
    assert set(dropped) == {t for i, t in zip(inputs, tokens) if i == V - 1}  # same mask under the same seeds


# ----------------------------------------------------------------- D72 objectives as pipelines


ENC_DEC = ["prefix_lm", "bert_style", "deshuffling", "mass_style", "iid_denoising", "drop_tokens", "span_corruption"]


def _lengths_for(name, inputs=32):
    from omegaconf import OmegaConf

    from t5repro import config
    from t5repro.tasks import c4

    cfg = OmegaConf.load(config.conf_dir() / "objective" / f"{name}.yaml")
    t = c4.objective_targets_length(cfg, inputs)
    return {"inputs": inputs, "targets": t}, cfg


@pytest.mark.parametrize("name", ENC_DEC)
def test_objective_budgets_and_determinism(name):
    lengths, cfg = _lengths_for(name)
    out, docs = _pipeline(obj.OBJECTIVES[name], lengths)
    assert out and all(len(e["inputs"]) + 1 <= lengths["inputs"] for e in out)  # D46/D47: room for EOS
    if cfg.targets_length_ratio in (None, 1.0):  # D47 / 512-512 rows: targets always fit (others are trimmed, D43)
        assert all(len(e["targets"]) + 1 <= lengths["targets"] for e in out)
    assert _pipeline(obj.OBJECTIVES[name], lengths)[0] == out  # deterministic under a seed (D60)
    assert _pipeline(obj.OBJECTIVES[name], lengths, seed=2)[0] != out


def _is_slice(piece, whole):
    return any(whole[i:i + len(piece)] == piece for i in range(len(whole) - len(piece) + 1))


def test_prefix_lm_and_deshuffling_do_not_concatenate():
    out, docs = _pipeline(obj.prefix_lm, {"inputs": 32, "targets": 32})
    assert all(any(_is_slice(e["inputs"] + e["targets"], d) for d in docs) for e in out)  # one document each
    assert all(e["inputs"] and len(e["inputs"] + e["targets"]) <= 31 for e in out)
    out, docs = _pipeline(obj.deshuffling, {"inputs": 32, "targets": 32})
    assert [e["targets"] for e in out] == [d[i:i + 31] for d in docs for i in range(0, len(d), 31)]  # D46 per doc


def test_concatenating_objectives_keep_every_token():
    for fn in (obj.bert_style, obj.mass_style):
        out, docs = _pipeline(fn, {"inputs": 32, "targets": 32})
        assert [t for e in out for t in e["targets"]] == [t for d in docs for t in d]  # D45 + target = original
    out, docs = _pipeline(obj.drop_tokens, {"inputs": 32, "targets": 7})
    assert sorted(t for e in out for t in e["inputs"] + e["targets"]) == sorted(t for d in docs for t in d)


def test_lm_targets_only():
    out, docs = _pipeline(obj.lm, {"inputs": 32, "targets": 20})
    assert all(set(e) == {"targets"} for e in out)
    assert all(len(e["targets"]) == 19 for e in out[:-1])  # split to L_targets - 1 (D72)
    assert [t for e in out for t in e["targets"]] == [t for d in docs for t in d]


# ----------------------------------------------------------------- registered Tasks at smoke lengths


@pytest.mark.parametrize("name", ENC_DEC + ["replace_spans"])
def test_registered_objective_yields_batches(session_cfg, name):
    from t5repro import config, data, tasks
    from t5repro.tasks import c4

    cfg = config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                       f"vocab.size={session_cfg.vocab.size}", f"objective={name}"])
    task = tasks.register_pretraining_task(cfg)
    assert task == f"c4_{name}"
    lengths = c4.pretraining_sequence_length(cfg)
    assert lengths["inputs"] == 64
    batch = next(data.get_batches(task, split="train", sequence_length=lengths, batch_size=4, pack=True, seed=0))
    assert set(batch) == set(data.PACKED_KEYS)
    for k, v in batch.items():
        assert v.shape == (4, lengths["inputs"] if k.startswith("encoder") else lengths["targets"]), k
    assert (batch["decoder_target_tokens"] == 1).sum() >= 4  # every row ends an example with EOS (D43)
    enc = batch["encoder_input_tokens"]
    vocab_size = tasks.output_features(str(cfg.io.vocab_model), 100)["targets"].vocabulary.vocab_size
    assert enc.max() < vocab_size
    if name in ("bert_style", "mass_style"):
        assert (enc == vocab_size - 1).any()  # the shared mask id (D68)
    if name == "mass_style":
        assert not ((enc >= vocab_size - 100) & (enc < vocab_size - 1)).any()  # no unique sentinels


def test_objective_keys_and_lm_are_checked(session_cfg):
    from t5repro import config, tasks

    base = [f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}"]
    with pytest.raises(config.ConfigError, match="arch.name='encoder_decoder'"):
        tasks.register_pretraining_task(config.load(base + ["objective=lm"]))
    cfg = config.load(base + ["objective=span_corruption", "objective.mean_noise_span_length=10"])
    assert tasks.register_pretraining_task(cfg) == "c4_span_corruption"
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.objective.name = "mass_style"  # span_corruption's mean_noise_span_length is not a MASS key
    with pytest.raises(config.ConfigError, match="objective.mean_noise_span_length"):
        tasks.register_pretraining_task(cfg)


def test_d48_targets_lengths_from_objective_config():
    from t5repro import config
    from t5repro.tasks import c4

    expected = {"table06/rate_10": 103, "table06/rate_15": 192, "table06/rate_25": 256, "table06/rate_50": 512,
                "table05/drop_corrupted_tokens": 104, "table04/bert_style": 512, "table04/prefix_lm": 512,
                "table04/deshuffling": 512, "table05/mass_style": 512, "table07/span_2": 126, "table07/span_3": 114,
                "table07/span_5": 105, "table07/span_10": 99}  # spec D48 at paper scale
    for experiment, targets in expected.items():
        cfg = config.load([f"experiment={experiment}", "scale=paper"])
        assert cfg.experiment_name == experiment.split("/")[1]
        assert c4.pretraining_sequence_length(cfg) == {"inputs": 512, "targets": targets}, experiment
    smoke = config.load(["experiment=table07/baseline_iid"])
    assert c4.pretraining_sequence_length(smoke) == dict(smoke.pretrain.sequence_length)  # 64/24 unchanged
