"""Greedy decoding for the §3 evaluations (spec model.md M73, M75, M76), jit-compiled."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from t5repro.models.t5 import T5

Array = jax.Array

DECODER_START_ID = 0  # spec M2 / M73: pad id 0 is also the decoder start token
EOS_ID = 1            # spec M2


def _pick(logits: Array, valid_vocab_size: int | None) -> Array:
    """Argmax over [B, V] logits, never choosing padded vocabulary rows >= valid_vocab_size (D36)."""
    vocab = logits.shape[-1]
    if valid_vocab_size is not None and valid_vocab_size < vocab:
        logits = jnp.where(jnp.arange(vocab) < valid_vocab_size, logits, -jnp.inf)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "eos_id", "valid_vocab_size",
                                             "use_cache"))
def _greedy(model: T5, params: Any, encoder_input_tokens: Array, *, max_decode_length: int, eos_id: int,
            valid_vocab_size: int | None, use_cache: bool) -> Array:
    """The whole decode loop under one jit: encoder once, then a `while_loop` over target positions."""
    batch = encoder_input_tokens.shape[0]
    variables = {"params": params}
    encoded = model.apply(variables, encoder_input_tokens, deterministic=True, method=T5.encode)
    out0 = jnp.zeros((batch, max_decode_length), jnp.int32)
    done0 = jnp.zeros((batch,), bool)

    if use_cache:
        # spec M76: create the self-attention K/V cache and cross-attention K/V once per input.
        _, state = model.apply(variables, encoded, encoder_input_tokens, out0, deterministic=True, decode=True,
                               method=T5.decode, mutable=["cache"])
        cache0 = state["cache"]

        def step_logits(i: Array, prev: Array, out: Array, cache: Any) -> tuple[Array, Any]:
            logits, new_state = model.apply({"params": params, "cache": cache}, encoded, encoder_input_tokens,
                                            prev[:, None], deterministic=True, decode=True, method=T5.decode,
                                            mutable=["cache"])
            return logits[:, 0], new_state["cache"]
    else:
        cache0 = ()

        def step_logits(i: Array, prev: Array, out: Array, cache: Any) -> tuple[Array, Any]:
            # Full recompute: decoder input = start id then the tokens emitted so far (M11, M73).
            dec_in = jnp.concatenate([jnp.full((batch, 1), DECODER_START_ID, jnp.int32), out[:, :-1]], axis=1)
            logits = model.apply(variables, encoded, encoder_input_tokens, dec_in, deterministic=True,
                                 method=T5.decode)
            return lax.dynamic_index_in_dim(logits, i, axis=1, keepdims=False), cache

    def cond(state: tuple) -> Array:
        i, _, _, done, _ = state
        return (i < max_decode_length) & ~jnp.all(done)

    def body(state: tuple) -> tuple:
        i, prev, out, done, cache = state
        logits, cache = step_logits(i, prev, out, cache)
        nxt = jnp.where(done, 0, _pick(logits, valid_vocab_size))  # pad with 0 after EOS (M73)
        out = lax.dynamic_update_slice(out, nxt[:, None], (0, i))
        return i + 1, nxt, out, done | (nxt == eos_id), cache

    prev0 = jnp.full((batch,), DECODER_START_ID, jnp.int32)
    _, _, out, _, _ = lax.while_loop(cond, body, (jnp.array(0, jnp.int32), prev0, out0, done0, cache0))
    return out


def greedy_decode(model: T5, params: Any, encoder_input_tokens: Any, *, max_decode_length: int,
                  eos_id: int = EOS_ID, valid_vocab_size: int | None = None, use_cache: bool = True) -> np.ndarray:
    """Greedy ids [B, max_decode_length]: start id 0, stop at EOS (kept), 0 after it (spec M73, M76).

    `encoder_input_tokens` are right-padded with 0; `valid_vocab_size` masks the padding rows of the
    rounded-up vocabulary (D36). `use_cache=False` recomputes the full decoder each step (reference path).
    """
    if max_decode_length <= 0:
        raise ValueError(f"max_decode_length must be positive, got {max_decode_length}")
    tokens = jnp.asarray(encoder_input_tokens, jnp.int32)
    out = _greedy(model, params, tokens, max_decode_length=int(max_decode_length), eos_id=int(eos_id),
                  valid_vocab_size=None if valid_vocab_size is None else int(valid_vocab_size),
                  use_cache=bool(use_cache))
    return np.asarray(jax.device_get(out))
