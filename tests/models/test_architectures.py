"""The §3.2 architectures of Table 2 (spec M25-M30): sizes, FLOPs, masks, sharing, config and a training run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from t5repro import config as config_lib
from t5repro.config import ConfigError
from t5repro.models import (ARCHITECTURES, T5, DecoderOnly, T5Config, build_model, eval_shape_param_count,
                            flops_per_example, get_architecture, info, param_count)
from t5repro.models.architectures import feature_converter, init_params, model_config
from t5repro.models.decoder_only import decoder_only_mask

ARCH_CONF = Path(__file__).resolve().parents[2] / "conf" / "arch"
BASE = T5Config(vocab_size=32128, d_model=768, d_ff=3072, num_heads=12, d_kv=64, num_encoder_layers=12,
                num_decoder_layers=12)
ROWS = ("encoder_decoder", "encoder_decoder_shared", "encoder_decoder_half", "decoder_only_lm", "prefix_lm")
# spec §2.1 table: exact parameter counts at Base dims, V = 32128
EXPECTED_PARAMS = dict(zip(ROWS, (222_903_552, 137_949_312, 123_790_080, 109_628_544, 109_628_544)))
# spec M30 table: forward GFLOP per example; LM rows on S_in + S_t tokens, the shared model costs M
EXPECTED_GFLOP = {(512, 114): (141.98, 73.80, 151.68), (256, 256): (121.35, 66.99, 121.90),
                  (512, 512): (257.19, 141.23, 263.13)}


# ---------------------------------------------------------------------------------------------------
# Table 2 sizes and costs (M25-M30)
# ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ROWS)
def test_table2_param_counts_exact_m25_m27(arch: str) -> None:
    """Spec §2.1: formula == jax.eval_shape count of the built module (no allocation) == the exact count."""
    assert param_count(BASE, arch) == EXPECTED_PARAMS[arch]
    assert eval_shape_param_count(BASE, arch) == EXPECTED_PARAMS[arch]


@pytest.mark.parametrize(("s_in", "s_t"), sorted(EXPECTED_GFLOP))
def test_table2_flops_m30(s_in: int, s_t: int) -> None:
    """Spec M30 table to 0.01 GFLOP: 12+12 (M), 6+6 (M/2), 12-layer LM on S_in + S_t; training = 3x forward."""
    m, half, lm = EXPECTED_GFLOP[(s_in, s_t)]
    got = {a: flops_per_example(BASE, s_in, s_t, a) for a in ROWS}
    expected = dict(zip(ROWS, (m, m, half, lm, lm)))
    for arch in ROWS:
        assert got[arch]["forward"] / 1e9 == pytest.approx(expected[arch], abs=0.01), arch
        assert got[arch]["training"] == 3 * got[arch]["forward"]
    assert got["decoder_only_lm"]["encoder"] == 0.0
    assert got["decoder_only_lm"]["output"] == 2 * 768 * 32128 * (s_in + s_t)  # every position is predicted


def test_table2_labels_as_ratios_m29() -> None:
    """Spec M29: the labels P, 2P, M, M/2 hold as ratios; the exact counts differ by cross-attention only."""
    p = param_count(BASE, "decoder_only_lm")  # P: one BERT-Base-sized stack + embedding
    d, big_h, layers, v = 768, 768, 12, 32128
    cross = layers * (4 * d * big_h + d)  # cross-attention + its norm, Ld blocks
    counts = {a: param_count(BASE, a) for a in ROWS}
    assert counts["encoder_decoder"] == 2 * p - (v * d) + cross  # "2P": two stacks, one shared embedding
    assert counts["encoder_decoder_shared"] == p + cross  # "P"
    assert counts["encoder_decoder_half"] == p + cross // 2 + (32 * 12 + d)  # "P": + a second table and norm
    assert counts["prefix_lm"] == p
    assert cross / counts["encoder_decoder"] == pytest.approx(0.127, abs=0.001)  # M29: 28.3M of 222.9M
    assert counts["encoder_decoder"] / p == pytest.approx(2.0, rel=0.05)
    for arch in ("encoder_decoder_shared", "encoder_decoder_half"):
        assert 1.0 < counts[arch] / p < 1.3, arch  # "P" up to the decoder's cross-attention
    for s_in, s_t in EXPECTED_GFLOP:
        m = flops_per_example(BASE, s_in, s_t)["forward"]
        for arch in ("encoder_decoder_shared", "decoder_only_lm", "prefix_lm"):
            assert flops_per_example(BASE, s_in, s_t, arch)["forward"] / m == pytest.approx(1.0, abs=0.07)  # "M"
        assert flops_per_example(BASE, s_in, s_t, "encoder_decoder_half")["forward"] / m == pytest.approx(
            0.5, abs=0.06)  # "M/2" (0.52-0.55: the output layer is not halved)


def test_model_info_prints_each_architecture(capsys) -> None:
    """`t5repro model-info model=base arch=...` prints the architecture's exact count and its FLOPs."""
    for arch, gflop in (("prefix_lm", 151.68), ("encoder_decoder_shared", 141.98)):
        info.run(config_lib.load(["model=base", "scale=paper", f"arch={arch}",
                                  "pretrain.sequence_length.inputs=512", "pretrain.sequence_length.targets=114"]))
        out = capsys.readouterr().out
        assert f"{EXPECTED_PARAMS[arch]:,}" in out and arch in out
        forward = flops_per_example(BASE, 512, 114, arch)["forward"] / 1e9
        assert forward == pytest.approx(gflop, abs=0.01) and f"{forward:,.3f} GFLOP at 512/114" in out


# ---------------------------------------------------------------------------------------------------
# Registry and configuration
# ---------------------------------------------------------------------------------------------------

def test_arch_conf_files_match_the_registry() -> None:
    """Every conf/arch/*.yaml names its own file, and every architecture has a file."""
    names = {p.stem: yaml.safe_load(p.read_text())["name"] for p in ARCH_CONF.glob("*.yaml")}
    assert all(stem == name for stem, name in names.items())
    assert set(names) == set(ARCHITECTURES) == set(ROWS)


def test_build_model_modules_keys_and_converters() -> None:
    """Each row builds its module; its input keys are its seqio converter's (T5 / DecoderOnly.INPUT_KEYS)."""
    tiny = BASE.replace(vocab_size=128, d_model=8, d_ff=8, num_heads=2, d_kv=4, num_encoder_layers=2,
                        num_decoder_layers=2)
    for arch in ROWS:
        model = build_model(arch, tiny)
        spec = get_architecture(arch)
        assert model.INPUT_KEYS == spec.input_keys
        assert isinstance(model, DecoderOnly if spec.decoder_only else T5)
    assert build_model("encoder_decoder_shared", tiny).config.shared_encoder_decoder
    assert build_model("encoder_decoder_half", tiny).config.num_encoder_layers == 1
    assert build_model("prefix_lm", tiny).prefix_lm and not build_model("decoder_only_lm", tiny).prefix_lm
    assert "decoder_causal_attention" in get_architecture("prefix_lm").input_keys


def test_bad_arch_configuration_names_the_key(tmp_path) -> None:
    """An unknown arch.name, odd layers for L/2, or unequal stacks for sharing name the config key."""
    with pytest.raises(ConfigError, match=r"arch\.name.*did you mean prefix_lm"):
        get_architecture("prefx_lm")
    with pytest.raises(ConfigError, match=r"model\.num_encoder_layers"):
        model_config("encoder_decoder_half", BASE.replace(num_encoder_layers=3))
    with pytest.raises(ValueError, match=r"model\.num_encoder_layers == model\.num_decoder_layers"):
        model_config("encoder_decoder_shared", BASE.replace(num_encoder_layers=6))
    from t5repro.train import stages

    cfg = config_lib.load(["arch.name=enc_dec", f"io.vocab_model={tmp_path / 'missing.model'}"])
    with pytest.raises(ConfigError, match=r"arch\.name 'enc_dec'"):  # before the vocabulary is read
        stages.build_model(cfg)


# ---------------------------------------------------------------------------------------------------
# Shared encoder-decoder (M25)
# ---------------------------------------------------------------------------------------------------

def test_shared_encoder_decoder_shares_everything_but_cross_attention_m25(tiny_config) -> None:
    """Spec M25: one stack, one rel_bias table read bidirectionally by the encoder and causally by the
    decoder; gradients reach the decoder's blocks and table from the encoder, cross-attention only from
    the decoder."""
    model = build_model("encoder_decoder_shared", tiny_config.replace(dropout_rate=0.0))
    params = jax.jit(lambda k: init_params(model, k))(jax.random.PRNGKey(0))
    plain = jax.eval_shape(lambda: init_params(T5(tiny_config), jax.random.PRNGKey(0)))
    assert set(params) == {"token_embedder", "decoder"}
    assert jax.tree.structure(params["decoder"]) == jax.tree.structure(plain["decoder"])  # same names as T5's
    tables = [p for p, _ in jax.tree_util.tree_leaves_with_path(params) if "rel_embedding" in jax.tree_util.keystr(p)]
    assert len(tables) == 1

    rng = np.random.default_rng(0)
    enc = rng.integers(2, 128, size=(2, 6)).astype(np.int32)
    dec = rng.integers(2, 128, size=(2, 5)).astype(np.int32)
    encoded = jax.jit(lambda p: model.apply({"params": p}, enc, method=T5.encode))(params)

    def via_encoder(p):
        return jnp.sum(model.apply({"params": p}, enc, method=T5.encode) ** 2)

    def via_decoder(p):  # the encoder output held fixed: only the decoder's use of the parameters
        return jnp.sum(model.apply({"params": p}, encoded, enc, dec, method=T5.decode) ** 2)

    g_enc, g_dec = jax.jit(jax.grad(via_encoder))(params), jax.jit(jax.grad(via_decoder))(params)
    table = ("decoder", "layers_0", "self_attention", "relpos_bias", "rel_embedding")

    def at(tree, path):
        for k in path:
            tree = tree[k]
        return np.abs(np.asarray(tree))

    # M17/M21: lengths <= 6 use bidirectional buckets 0-5 and 17-21 (key after query) in the encoder,
    # causal buckets 0-4 in the decoder.
    assert at(g_enc, table)[:, 17:22].min() > 0 and at(g_enc, table)[:, :6].min() > 0
    assert at(g_dec, table)[:, :5].min() > 0 and at(g_dec, table)[:, 5:].max() == 0
    for path in (("decoder", "layers_1", "mlp", "wi", "kernel"), ("decoder", "final_layer_norm", "scale"),
                 ("decoder", "layers_1", "pre_self_attention_layer_norm", "scale")):
        assert at(g_enc, path).max() > 0 and at(g_dec, path).max() > 0, path
    cross = ("decoder", "layers_1", "encoder_decoder_attention", "query", "kernel")
    assert at(g_enc, cross).max() == 0 and at(g_dec, cross).max() > 0


# ---------------------------------------------------------------------------------------------------
# Decoder-only masks (M27, M28, M21)
# ---------------------------------------------------------------------------------------------------

# seqio PrefixLMFeatureConverter docstring, example 1 (packed): inputs [7, 8, 5, 1] + targets [3, 9, 1],
# inputs [8, 4, 9, 3, 1] + targets [4, 1].
SEQIO_EXAMPLES = [{"inputs": [7, 8, 5, 1], "targets": [3, 9, 1]}, {"inputs": [8, 4, 9, 3, 1], "targets": [4, 1]}]


def m28_region(examples: list[dict], length: int) -> np.ndarray:
    """Spec M28 from its words: per segment, the positions whose label is an inputs token (EOS included),
    plus the next position."""
    region, start = np.zeros(length, np.int32), 0
    for ex in examples:
        n = len(ex["inputs"])
        region[start:start + n + 1] = 1
        start += n + len(ex["targets"])
    return region


def test_seqio_prefix_lm_converter_marks_the_m28_region() -> None:
    """seqio's `decoder_causal_attention` is M28's region: the inputs incl. EOS plus the next position.

    Checked on seqio's own converter (the one `prefix_lm` consumes); the boundary position reads the
    inputs' EOS and predicts the first target token, and only targets carry loss (Q1 default).
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_generator(
        lambda: iter(SEQIO_EXAMPLES),
        output_signature={k: tf.TensorSpec([None], tf.int32) for k in ("inputs", "targets")})
    out = next(iter(feature_converter("prefix_lm", pack=True)(ds, {"inputs": 7, "targets": 8}).as_numpy_iterator()))
    assert set(out) == set(get_architecture("prefix_lm").input_keys) | {"decoder_loss_weights"}
    region = out["decoder_causal_attention"]
    np.testing.assert_array_equal(region, m28_region(SEQIO_EXAMPLES, 15))
    for boundary, first_target in ((4, 3), (12, 4)):
        assert region[boundary] == 1 and region[boundary + 1] == 0
        assert out["decoder_input_tokens"][boundary] == 1 and out["decoder_target_tokens"][boundary] == first_target
    np.testing.assert_array_equal(out["decoder_loss_weights"], [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0])
    lm = next(iter(feature_converter("decoder_only_lm", pack=True)(ds, {"inputs": 7, "targets": 8})
                   .as_numpy_iterator()))
    np.testing.assert_array_equal(lm["decoder_loss_weights"], lm["decoder_target_tokens"] > 0)  # M27: every position


def test_prefix_lm_mask_m28() -> None:
    """Spec M28/M10: the mask equals the region rule written pairwise, per packed segment, padding hidden."""
    region = m28_region(SEQIO_EXAMPLES, 15)
    seg = np.asarray([1] * 7 + [2] * 7 + [0], np.int32)
    keep = np.asarray(decoder_only_mask(15, seg[None], region[None]))[0, 0] == 0
    expected = np.zeros((15, 15), bool)
    for q in range(15):
        for k in range(15):
            if seg[q] == seg[k] > 0:
                both = region[q] and region[k]  # inside the region: both directions
                expected[q, k] = both or (not region[q] and k <= q)  # after it: region + causal targets
    np.testing.assert_array_equal(keep, expected)
    causal = np.asarray(decoder_only_mask(15, seg[None]))[0, 0] == 0  # the LM: causal within segments
    np.testing.assert_array_equal(causal, np.tril(seg[:, None] == seg[None, :]) & (seg > 0)[None, :])


@pytest.fixture(scope="module")
def lm_pair(tiny_config):
    """The LM and prefix LM on the same parameters, and a jitted deterministic forward of each."""
    lm = build_model("decoder_only_lm", tiny_config)
    prefix = build_model("prefix_lm", tiny_config)
    params = jax.jit(lambda k: init_params(lm, k))(jax.random.PRNGKey(1))

    def fwd(model):
        return jax.jit(lambda p, t, seg=None, r=None: model.apply(
            {"params": p}, t, None, seg, None, r, deterministic=True))

    return params, fwd(lm), fwd(prefix)


def test_lm_causal_and_prefix_region_boundary_m27_m28(lm_pair) -> None:
    """M27: the LM is causal. M28: region positions (incl. the boundary, which reads the inputs' EOS)
    see each other both ways; the first target position is outside the region."""
    params, lm, prefix = lm_pair
    # [0, x1, x2, x3, EOS | y1, y2, y3]: region = positions 0-4 (labels x1..EOS, then y1 at 4)
    tokens = np.asarray([[0, 11, 12, 13, 1, 21, 22, 23]], np.int32)
    region = np.asarray([[1, 1, 1, 1, 1, 0, 0, 0]], np.int32)

    def changed(fwd, pos, r=None):
        other = tokens.copy()
        other[0, pos] += 40
        a, b = np.asarray(fwd(params, tokens, None, r))[0], np.asarray(fwd(params, other, None, r))[0]
        return [not np.allclose(a[i], b[i], atol=1e-5) for i in range(tokens.shape[1])]

    assert changed(lm, 4) == [False] * 4 + [True] * 4  # causal
    assert changed(prefix, 4, region) == [True] * 8  # the boundary is seen by the whole region
    assert changed(prefix, 5, region) == [False] * 5 + [True] * 3  # the first target is not in the region
    assert changed(prefix, 2, region) == [True] * 8
    assert changed(lm, 2, region) == [False] * 2 + [True] * 6  # the LM ignores decoder_causal_attention


def test_packed_rows_do_not_attend_across_segments_m10(lm_pair) -> None:
    """Spec M10/M28: two examples packed in one row give the logits of each alone, in both models."""
    params, lm, prefix = lm_pair
    a = np.asarray([0, 7, 8, 5, 1, 3, 9], np.int32)      # seqio's shifted inputs of the examples above
    b = np.asarray([0, 8, 4, 9, 3, 1, 4], np.int32)
    ra, rb = np.asarray([1, 1, 1, 1, 1, 0, 0]), np.asarray([1, 1, 1, 1, 1, 1, 0])
    row = np.concatenate([a, b, [0]])[None]
    seg = np.asarray([[1] * 7 + [2] * 7 + [0]], np.int32)
    region = np.concatenate([ra, rb, [0]])[None]
    for fwd, r in ((lm, None), (prefix, region)):
        packed = np.asarray(fwd(params, row, seg, r))[0]
        alone_a = np.asarray(fwd(params, a[None], None, None if r is None else ra[None]))[0]
        alone_b = np.asarray(fwd(params, b[None], None, None if r is None else rb[None]))[0]
        np.testing.assert_allclose(packed[:7], alone_a, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(packed[7:14], alone_b, rtol=1e-4, atol=1e-4)
        unpacked = np.asarray(fwd(params, row, None, r))[0]  # without segment ids b would see a
        assert not np.allclose(unpacked[7:14], alone_b, atol=1e-3)


def test_bucket_mode_lm_causal_prefix_lm_bidirectional_m21(tiny_config, lm_pair) -> None:
    """Spec M21: the prefix LM reads the table with bidirectional buckets at every position, the LM causally.

    Length 20, no region: both masks are causal. Past distances 16-19 hit causal buckets 16-17, but
    bidirectional buckets <= 10 (M19); with a region, the prefix LM also reads future-side buckets (17+).
    """
    params = lm_pair[0]
    tokens = np.random.default_rng(3).integers(2, 128, size=(1, 20)).astype(np.int32)
    table = ("decoder", "layers_0", "self_attention", "relpos_bias", "rel_embedding")

    def used_buckets(arch, region):
        model = build_model(arch, tiny_config.replace(dropout_rate=0.0))
        g = jax.grad(lambda p: jnp.sum(model.apply({"params": p}, tokens, decoder_causal_attention=region,
                                                   deterministic=True) ** 2))(params)
        for k in table:
            g = g[k]
        return set(np.flatnonzero(np.abs(np.asarray(g)).max(axis=0) > 0).tolist())

    none = np.zeros((1, 20), np.int32)
    assert used_buckets("decoder_only_lm", none) == set(range(18))
    assert used_buckets("prefix_lm", none) == set(range(11))
    with_region = used_buckets("prefix_lm", (np.arange(20) < 6).astype(np.int32)[None])
    assert {17, 18, 19, 20, 21} <= with_region and 16 not in with_region


# ---------------------------------------------------------------------------------------------------
# Training sanity (M28 with the trainer's step)
# ---------------------------------------------------------------------------------------------------

def test_prefix_lm_loss_falls_with_the_trainer_step() -> None:
    """The trainer's compiled step (model-declared input keys) trains a smoke-size prefix LM on a packed batch."""
    from t5repro.train.optim import make_optimizer
    from t5repro.train.schedules import make_schedule
    from t5repro.train.state import TrainState
    from t5repro.train.trainer import TrainConfig, make_train_step

    cfg = config_lib.load(["arch=prefix_lm"])
    model = build_model(cfg.arch.name, T5Config.from_cfg(cfg.model, vocab_size=100))  # M91 dims, V = 128
    recipe = dataclasses.replace(TrainConfig.from_cfg(cfg.pretrain), steps=30)
    rng = np.random.default_rng(0)
    rows, length = 4, 32
    batch = {k: np.zeros((rows, length), np.int32) for k in get_architecture("prefix_lm").input_keys
             + ("decoder_loss_weights",)}
    for r in range(rows):  # two packed examples per row, seqio's prefix-LM layout (inputs 9 + targets 6)
        for s, start in enumerate((0, 15)):
            inputs = np.append(rng.integers(2, 128, 8), 1)
            targets = np.append(rng.integers(2, 128, 5), 1)
            seq = np.concatenate([inputs, targets])
            sl = slice(start, start + 15)
            batch["decoder_target_tokens"][r, sl] = seq
            batch["decoder_input_tokens"][r, sl] = np.concatenate([[0], seq[:-1]])
            batch["decoder_segment_ids"][r, sl] = s + 1
            batch["decoder_positions"][r, sl] = np.arange(15)
            batch["decoder_causal_attention"][r, start:start + 10] = 1
            batch["decoder_loss_weights"][r, start + 9:start + 15] = 1
    params = jax.jit(lambda k: init_params(model, k))(jax.random.PRNGKey(0))
    state = TrainState.create(params, make_optimizer(make_schedule(recipe)).init(params))
    args = (batch, jax.random.PRNGKey(1), jnp.asarray(0, jnp.int32))
    # Compile once, ahead of time, and commit the state to the step's shardings (a fresh state is
    # uncommitted, so a plain second call would compile again).
    step = make_train_step(model, recipe).lower(state, *args).compile()
    state = jax.device_put(state, step.input_shardings[0][0])
    losses = []
    for _ in range(recipe.steps):
        state, metrics = step(state, *args)
        losses.append(float(metrics["loss"]))
    assert float(metrics["weight_sum"]) == rows * 2 * 6  # targets only (M28, Q1)
    assert losses[-1] < 0.75 * losses[0], losses
