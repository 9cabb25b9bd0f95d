"""Decoder-only language model and prefix LM of §3.2.1 (Table 2 rows 4-5; spec M27, M28, M21).

One stack of [self-attention, FFN] blocks (layers.py's `T5Stack` without cross-attention), one rel_bias
table, a final norm and the tied, d^-0.5-scaled output layer of T5 (M12). It consumes the keys of seqio's
decoder-only feature converters (`LMFeatureConverter`, `PrefixLMFeatureConverter`): a text-to-text example
is one sequence `[inputs…, EOS, targets…, EOS]`, shifted right per segment (M11, M27).

- LM (`prefix_lm=False`): causal self-attention, causal buckets (M21, M27); `decoder_causal_attention`
  is ignored.
- Prefix LM (`prefix_lm=True`): `decoder_causal_attention` marks the fully-visible region (M28), which
  is exactly what seqio's PrefixLMFeatureConverter emits: positions `< len(inputs incl. EOS) + 1` of each
  segment, i.e. the positions whose label is an inputs token (EOS included) plus the next one, which
  reads that EOS and predicts the first target. `visible(q, k) = prio(q) >= prio(k)` with prio = 0 in
  the region, else the index in the row; bidirectional buckets at every position (M21).

The stack is named `decoder` and the embedding `token_embedder`, as in the T5 tree (t5x's decoder-only
network names its stack the same way). The layer count is `config.num_decoder_layers` (Table 2: the
12-layer LM of a 12+12 baseline); `num_encoder_layers` is not used.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from t5repro.models.config import T5Config
from t5repro.models.layers import NEG_INF, Embed, T5Stack

Array = jax.Array

# Model inputs: the keys of seqio's decoder-only feature converters that `__call__` takes.
INPUT_KEYS = ("decoder_input_tokens", "decoder_target_tokens", "decoder_segment_ids", "decoder_positions",
              "decoder_causal_attention")


def attention_priority(length: int, causal_attention: Array | None = None) -> Array:
    """[B|1, L] int32 priority: 0 inside the fully-visible region, else the position index (spec M28).

    Without `causal_attention` (plain LM, M27) the priority is the index, so `prio(q) >= prio(k)` is causal.
    """
    index = jnp.arange(length, dtype=jnp.int32)[None, :]
    if causal_attention is None:
        return index
    return jnp.where(jnp.asarray(causal_attention) > 0, 0, index)


def decoder_only_mask(length: int, segment_ids: Array | None = None,
                      causal_attention: Array | None = None) -> Array:
    """[B|1, 1, L, L] additive float32 bias of the single stack's self-attention (spec M10, M27, M28).

    Keep (q, k) iff prio(q) >= prio(k) AND (with segment ids) same packed segment AND key not padding.
    Without segment ids the rows are right-padded and causality hides padding from every real query.
    """
    prio = attention_priority(length, causal_attention)
    keep = prio[:, None, :, None] >= prio[:, None, None, :]
    if segment_ids is not None:
        seg = jnp.asarray(segment_ids)
        keep = keep & (seg[:, None, :, None] == seg[:, None, None, :]) & (seg > 0)[:, None, None, :]
    return jnp.where(keep, 0.0, NEG_INF).astype(jnp.float32)


class DecoderOnly(nn.Module):
    """Single-stack T5 (LM or prefix LM) returning float32 logits [B, L, V] (spec M27, M28, M12)."""

    config: T5Config
    prefix_lm: bool = False
    INPUT_KEYS: ClassVar[tuple[str, ...]] = INPUT_KEYS

    @nn.compact
    def __call__(self, decoder_input_tokens: Array, decoder_target_tokens: Array | None = None,
                 decoder_segment_ids: Array | None = None, decoder_positions: Array | None = None,
                 decoder_causal_attention: Array | None = None, *, deterministic: bool,
                 decode: bool = False) -> Array:
        """Logits [B, L, V] float32 of the shifted concatenation `decoder_input_tokens` [B, L].

        `decoder_target_tokens` and `decoder_positions` are accepted for seqio compatibility and unused:
        relative positions come from the index in the packed row (M10). `decode=True` runs the key/value
        cache (M76): a first call with the full cache length [B, L_max] creates it; later calls append a
        chunk (the prompt, with its segment ids marking left padding as 0 and, for the prefix LM, its
        region) or one token, and attend over everything cached so far.
        """
        del decoder_target_tokens, decoder_positions
        cfg = self.config
        length = decoder_input_tokens.shape[1]
        region = decoder_causal_attention if self.prefix_lm else None
        nonpad = None
        if decode:
            mask = self._cache_mask(decoder_input_tokens, decoder_segment_ids, region)
        else:
            mask = decoder_only_mask(length, decoder_segment_ids, region)
            if cfg.zero_padding and decoder_segment_ids is not None:
                nonpad = (jnp.asarray(decoder_segment_ids) > 0)[..., None]  # spec M13
        embedder = Embed(cfg, name="token_embedder")
        x = embedder(decoder_input_tokens)
        # spec M21: bucket mode is set by the model: bidirectional for the prefix LM, causal for the LM.
        y = T5Stack(cfg, cfg.num_decoder_layers, has_cross_attention=False, name="decoder")(
            x, mask, None, None, nonpad, bidirectional=self.prefix_lm, deterministic=deterministic, decode=decode)
        # spec M12: tied output with the d^-0.5 factor, float32 over all V rows.
        return embedder.attend(y.astype(jnp.float32) * (cfg.d_model ** -0.5))

    def _cache_mask(self, tokens: Array, segment_ids: Array | None, region: Array | None) -> Array | None:
        """Mask over the cache for the chunk of positions [index, index + q) (M28 rule, M76).

        The cache keeps each position's priority and validity, so a query sees exactly the keys it
        would see in a full forward pass over the row. The creating call returns the plain causal mask.
        """
        batch, q_len = tokens.shape
        ready = self.has_variable("cache", "key_priority")
        max_len = q_len if not ready else self.get_variable("cache", "key_priority").shape[1]
        # Unwritten slots get priority = index, so no query (priority <= its own index) sees them.
        key_prio = self.variable("cache", "key_priority",
                                 lambda: jnp.broadcast_to(jnp.arange(max_len, dtype=jnp.int32), (batch, max_len)))
        key_valid = self.variable("cache", "key_valid", lambda: jnp.ones((batch, max_len), bool))
        index = self.variable("cache", "index", lambda: jnp.array(0, jnp.int32))
        if not ready:
            return decoder_only_mask(q_len)
        start = index.value
        positions = start + jnp.arange(q_len, dtype=jnp.int32)[None, :]
        prio = jnp.broadcast_to(positions, (batch, q_len))
        if region is not None:
            prio = jnp.where(jnp.asarray(region) > 0, 0, prio)
        valid = (jnp.ones((batch, q_len), bool) if segment_ids is None else jnp.asarray(segment_ids) > 0)
        key_prio.value = jax.lax.dynamic_update_slice(key_prio.value, prio, (0, start))
        key_valid.value = jax.lax.dynamic_update_slice(key_valid.value, valid, (0, start))
        index.value = start + q_len
        keep = (prio[:, None, :, None] >= key_prio.value[:, None, None, :]) & key_valid.value[:, None, None, :]
        return jnp.where(keep, 0.0, NEG_INF).astype(jnp.float32)


def init_params(model: DecoderOnly, rng: Array, *, batch_size: int = 1, length: int = 1, unbox: bool = True) -> Any:
    """Initialise float32 parameters; `unbox=False` keeps the logical-axis boxes (spec M79) for sharding."""
    tokens = jnp.ones((batch_size, length), jnp.int32)
    params = model.init({"params": rng, "dropout": rng}, tokens, deterministic=True)["params"]
    return nn.unbox(params) if unbox else params


def prompt_from_inputs(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left-padded decoder prompt `[0, inputs…]` of right-padded `inputs` [B, S] (spec M27, M28, M11).

    Returns (tokens, segment_ids, region), each [B, S + 1]: the start id 0 then the row's non-padding
    tokens (the Task's `inputs`, ending with EOS), right-aligned so every row continues at position S + 1.
    Left padding has segment id 0 and is masked as a key; relative position buckets only see differences
    of positions, so a right-aligned row gets the logits it would get alone. The region (the prefix LM's
    fully-visible part) is the whole real prompt: the positions predicting the inputs and their EOS, plus
    the EOS position itself, which predicts the first target token (M28).
    """
    inputs = np.asarray(inputs, np.int32)
    batch, s = inputs.shape
    lengths = (inputs > 0).sum(axis=1)  # padding (id 0) is dropped wherever it is
    tokens = np.zeros((batch, s + 1), np.int32)
    segment_ids = np.zeros((batch, s + 1), np.int32)
    for b, n in enumerate(lengths):
        tokens[b, s - n + 1:] = inputs[b][inputs[b] > 0]
        segment_ids[b, s - n:] = 1
    return tokens, segment_ids, segment_ids.copy()
