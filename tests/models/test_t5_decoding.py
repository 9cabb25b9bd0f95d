"""Tests of greedy decoding (spec M73, M76, D36): cached == full recompute == a naive argmax loop."""

from __future__ import annotations

import jax
import numpy as np

from t5repro.models import T5
from t5repro.models.decoding import greedy_decode

MAX_LEN = 7


def naive_greedy(model: T5, params, enc: np.ndarray, max_len: int, eos_id: int = 1,
                 valid_vocab_size: int | None = None) -> np.ndarray:
    """Reference: recompute the full forward on [0, y_1..y_i] each step and take the argmax at i (M73).

    Decoder inputs are right-padded to `max_len` so one compiled forward serves every step; causality
    (tested in test_t5_model) makes the padding invisible to position i.
    """
    fwd = jax.jit(lambda p, e, d: model.apply({"params": p}, e, d, deterministic=True))
    batch = enc.shape[0]
    out = np.zeros((batch, max_len), np.int32)
    done = np.zeros(batch, bool)
    for i in range(max_len):
        dec = np.concatenate([np.zeros((batch, 1), np.int32), out[:, :-1]], axis=1)
        logits = np.asarray(fwd(params, enc, dec))[:, i]
        if valid_vocab_size is not None:
            logits = logits[:, :valid_vocab_size]
        nxt = np.where(done, 0, np.argmax(logits, axis=-1))
        out[:, i] = nxt
        done |= nxt == eos_id
        if done.all():
            break
    return out


def test_cached_equals_recompute_equals_naive_loop_m73_m76(tiny_config, tiny_params, batch) -> None:
    """Spec M73/M76: the K/V-cached decode, the jitted full recompute and a naive loop agree."""
    model = T5(tiny_config)
    cached = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN)
    full = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, use_cache=False)
    assert cached.shape == (3, MAX_LEN) and cached.dtype == np.int32
    assert len(set(cached.ravel().tolist())) > 3  # not a degenerate constant output
    np.testing.assert_array_equal(cached, full)
    np.testing.assert_array_equal(cached, naive_greedy(model, tiny_params, batch, MAX_LEN))
    # a padded row decodes like the same input alone, unpadded (M9/M10 masks)
    alone = greedy_decode(model, tiny_params, batch[1:2, :3], max_decode_length=MAX_LEN, use_cache=False)
    np.testing.assert_array_equal(alone[0], cached[1])


def test_stops_at_eos_and_pads_with_zero_m73(tiny_config, tiny_params, batch) -> None:
    """Spec M73: output stops at the first EOS (kept) and is 0 afterwards; other rows continue."""
    model = T5(tiny_config)
    free = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN)
    eos = int(free[0, 2])  # a token row 0 emits at step 2: use it as the EOS id
    stopped = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, eos_id=eos)
    for row in range(batch.shape[0]):
        hits = np.flatnonzero(free[row] == eos)
        if hits.size == 0:
            np.testing.assert_array_equal(stopped[row], free[row])
        else:
            k = int(hits[0])
            np.testing.assert_array_equal(stopped[row, :k + 1], free[row, :k + 1])
            np.testing.assert_array_equal(stopped[row, k + 1:], 0)
    assert (stopped[0, 3:] == 0).all() and stopped[0, 2] == eos
    np.testing.assert_array_equal(stopped, naive_greedy(model, tiny_params, batch, MAX_LEN, eos_id=eos))


def test_valid_vocab_size_masks_padded_rows_d36(tiny_config, tiny_params, batch) -> None:
    """D36/M2: rows >= the real vocabulary size stay in the softmax for training but are never emitted."""
    model = T5(tiny_config)
    free = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN)
    valid = int(np.max(free))  # the largest emitted id becomes invalid
    masked = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, valid_vocab_size=valid)
    assert masked.max() < valid
    np.testing.assert_array_equal(masked, naive_greedy(model, tiny_params, batch, MAX_LEN, valid_vocab_size=valid))
