"""Greedy decoding of the decoder-only LM and prefix LM (spec M28, M73, M76): cached == a naive loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from t5repro.models import build_model
from t5repro.models.architectures import init_params
from t5repro.models.decoder_only import prompt_from_inputs
from t5repro.models.decoding_lm import greedy_decode_lm

MAX_LEN = 6


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    """Three right-padded Task inputs of lengths 6, 3 and 5, each ending with EOS (M27)."""
    rng = np.random.default_rng(0)
    x = rng.integers(2, 128, size=(3, 6)).astype(np.int32)
    for row, n in enumerate((6, 3, 5)):
        x[row, n - 1] = 1
        x[row, n:] = 0
    return x


@pytest.fixture(scope="module", params=["decoder_only_lm", "prefix_lm"])
def lm(request, tiny_config):
    """(model, params) with a random final norm scale, so that greedy outputs vary (see conftest)."""
    model = build_model(request.param, tiny_config)
    params = jax.jit(lambda key: init_params(model, key))(jax.random.PRNGKey(0))
    params["decoder"]["final_layer_norm"]["scale"] = jax.random.normal(jax.random.PRNGKey(7),
                                                                       (tiny_config.d_model,))
    return model, params


def naive_greedy(model, params, inputs: np.ndarray, max_len: int, eos_id: int = 1) -> np.ndarray:
    """Reference: one row at a time, the full forward on [0, inputs…, y_1..y_i] (no left padding, no cache).

    The row is right-padded to one fixed length so that one compiled forward serves every step; the
    mask tests (test_architectures) show later positions are invisible to position i. The prefix LM's
    region is the whole prompt (M28), written here from the definition: the positions whose label is an
    inputs token or its EOS, plus the position that reads that EOS.
    """
    width = inputs.shape[1] + 1 + max_len
    fwd = jax.jit(lambda p, t, r: model.apply({"params": p}, t, decoder_causal_attention=r, deterministic=True))
    out = np.zeros((inputs.shape[0], max_len), np.int32)
    for b, row in enumerate(inputs):
        prompt = [0] + [int(t) for t in row if t > 0]
        generated: list[int] = []
        for _ in range(max_len):
            seq = prompt + generated
            tokens = np.zeros((1, width), np.int32)
            tokens[0, :len(seq)] = seq
            region = np.zeros((1, width), np.int32)
            region[0, :len(prompt)] = 1
            nxt = int(np.argmax(np.asarray(fwd(params, tokens, region))[0, len(seq) - 1]))
            generated.append(nxt)
            if nxt == eos_id:
                break
        out[b, :len(generated)] = generated
    return out


def test_prompt_layout_m28() -> None:
    """Prompts `[0, inputs…]` are right-aligned; left padding has segment 0; the region is the real prompt."""
    tokens, seg, region = prompt_from_inputs(np.asarray([[5, 6, 1], [7, 1, 0]]))
    np.testing.assert_array_equal(tokens, [[0, 5, 6, 1], [0, 0, 7, 1]])
    np.testing.assert_array_equal(seg, [[1, 1, 1, 1], [0, 1, 1, 1]])
    np.testing.assert_array_equal(region, seg)


def test_cached_greedy_equals_naive_loop_m76(lm, inputs) -> None:
    """Spec M73/M76: prompt fill + K/V-cached steps give the naive full recompute's tokens, row by row."""
    model, params = lm
    cached = greedy_decode_lm(model, params, inputs, max_decode_length=MAX_LEN)
    assert cached.shape == (3, MAX_LEN)
    np.testing.assert_array_equal(cached, naive_greedy(model, params, inputs, MAX_LEN))
    assert len(set(cached.ravel().tolist())) > 2  # the model does not just echo one token


def test_eos_stops_and_pads_m73(lm, inputs) -> None:
    """An emitted EOS is kept and followed by 0s (spec M73)."""
    model, params = lm
    free = greedy_decode_lm(model, params, inputs, max_decode_length=MAX_LEN)
    eos = int(free[0, 1])  # pretend the second token of row 0 is EOS
    stopped = greedy_decode_lm(model, params, inputs, max_decode_length=MAX_LEN, eos_id=eos)
    expected = free.copy()
    for row in expected:  # the free run, cut after its first `eos`
        hits = np.flatnonzero(row == eos)
        if hits.size:
            row[hits[0] + 1:] = 0
    np.testing.assert_array_equal(stopped, expected)
    assert stopped[0, 1] == eos and not stopped[0, 2:].any()
