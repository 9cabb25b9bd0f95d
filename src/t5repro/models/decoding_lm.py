"""Greedy decoding for the decoder-only LM and prefix LM of §3.2.1 (spec M28, M73, M76), jit-compiled.

The prompt `[0, inputs…, EOS]` (decoder_only.prompt_from_inputs: left-padded so that all rows continue
at the same position) is written into the key/value cache in one call, with the prefix LM's
fully-visible region (M28); then one token per step, as `decoding.greedy_decode` does for T5 (kept apart
from decoding.py, which serves the encoder-decoder).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from t5repro.models.decoder_only import DecoderOnly, prompt_from_inputs

Array = jax.Array

EOS_ID = 1  # spec M2


def _pick(logits: Array, valid_vocab_size: int | None) -> Array:
    """Argmax over [B, V] logits, never choosing padded vocabulary rows >= valid_vocab_size (D36)."""
    vocab = logits.shape[-1]
    if valid_vocab_size is not None and valid_vocab_size < vocab:
        logits = jnp.where(jnp.arange(vocab) < valid_vocab_size, logits, -jnp.inf)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "eos_id", "valid_vocab_size"))
def _greedy(model: DecoderOnly, params: Any, prompt: Array, segment_ids: Array, region: Array, *,
            max_decode_length: int, eos_id: int, valid_vocab_size: int | None) -> Array:
    """Create the cache, fill it with the prompt, then a `while_loop` over generated positions (M76)."""
    batch, prompt_len = prompt.shape
    cache_len = prompt_len + max_decode_length - 1  # the last generated token is never fed back
    _, state = model.apply({"params": params}, jnp.zeros((batch, cache_len), jnp.int32), deterministic=True,
                           decode=True, mutable=["cache"])
    logits, state = model.apply({"params": params, "cache": state["cache"]}, prompt, None, segment_ids, None,
                                region, deterministic=True, decode=True, mutable=["cache"])
    first = _pick(logits[:, -1], valid_vocab_size)
    out0 = jnp.zeros((batch, max_decode_length), jnp.int32).at[:, 0].set(first)

    def cond(carry: tuple) -> Array:
        i, _, _, done, _ = carry
        return (i < max_decode_length) & ~jnp.all(done)

    def body(carry: tuple) -> tuple:
        i, prev, out, done, cache = carry
        step_logits, new_state = model.apply({"params": params, "cache": cache}, prev[:, None], deterministic=True,
                                             decode=True, mutable=["cache"])
        nxt = jnp.where(done, 0, _pick(step_logits[:, 0], valid_vocab_size))  # pad with 0 after EOS (M73)
        out = lax.dynamic_update_slice(out, nxt[:, None], (0, i))
        return i + 1, nxt, out, done | (nxt == eos_id), new_state["cache"]

    carry0 = (jnp.array(1, jnp.int32), first, out0, first == eos_id, state["cache"])
    _, _, out, _, _ = lax.while_loop(cond, body, carry0)
    return out


def greedy_decode_lm(model: DecoderOnly, params: Any, inputs: Any, *, max_decode_length: int, eos_id: int = EOS_ID,
                     valid_vocab_size: int | None = None) -> np.ndarray:
    """Greedy continuation ids [B, max_decode_length] of the prompts `[0, inputs…]`, EOS kept, 0 after it.

    `inputs` [B, S] are the Task's right-padded `inputs` (each ending with EOS, M27); the LM reads the
    prompt causally, the prefix LM with its fully-visible region (M28). `valid_vocab_size` masks the
    padding rows of the rounded-up vocabulary (D36).
    """
    if max_decode_length <= 0:
        raise ValueError(f"max_decode_length must be positive, got {max_decode_length}")
    prompt, segment_ids, region = prompt_from_inputs(np.asarray(inputs))
    out = _greedy(model, params, jnp.asarray(prompt), jnp.asarray(segment_ids), jnp.asarray(region),
                  max_decode_length=int(max_decode_length), eos_id=int(eos_id),
                  valid_vocab_size=None if valid_vocab_size is None else int(valid_vocab_size))
    return np.asarray(jax.device_get(out))
