"""The T5 v1.0 encoder-decoder (spec model.md §1): shared embedding, two stacks, tied scaled output."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from t5repro.models.config import T5Config
from t5repro.models.layers import NEG_INF, Embed, T5Stack

Array = jax.Array

# Model inputs: the keys of seqio's EncDecFeatureConverter that `__call__` takes (docs/architecture.md).
INPUT_KEYS = ("encoder_input_tokens", "decoder_input_tokens", "encoder_segment_ids", "decoder_segment_ids",
              "encoder_positions", "decoder_positions")


def _bias(keep: Array) -> Array:
    """Boolean keep-mask -> additive float32 bias (0 or -1e9), spec M10."""
    return jnp.where(keep, 0.0, NEG_INF).astype(jnp.float32)


def encoder_self_mask(tokens: Array, segment_ids: Array | None = None) -> Array:
    """[B,1,S,S] bias: key not padding AND same packed segment (spec M10)."""
    keep = (tokens > 0)[:, None, None, :]
    if segment_ids is not None:
        keep = keep & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])
    return _bias(keep)


def decoder_self_mask(length: int, segment_ids: Array | None = None) -> Array:
    """[B|1,1,T,T] bias: causal AND same segment AND key not padding (spec M10).

    Without segment ids the rows are right-padded, so a padding key always lies after every real
    query and the causal term already hides it (position 0 holds the start id 0, which is not padding).
    """
    keep = jnp.asarray(np.tril(np.ones((length, length), dtype=bool)))[None, None]
    if segment_ids is not None:
        same = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
        keep = keep & same & (segment_ids > 0)[:, None, None, :]
    return _bias(keep)


def cross_mask(encoder_tokens: Array, decoder_segment_ids: Array | None = None,
               encoder_segment_ids: Array | None = None) -> Array:
    """[B,1,T|1,S] bias: encoder key not padding AND same packed segment (spec M9)."""
    keep = (encoder_tokens > 0)[:, None, None, :]
    if decoder_segment_ids is not None and encoder_segment_ids is not None:
        keep = keep & (decoder_segment_ids[:, None, :, None] == encoder_segment_ids[:, None, None, :])
    return _bias(keep)


class T5(nn.Module):
    """T5 v1.0 encoder-decoder returning float32 logits [B, L_t, V] (spec M3-M13, docs/architecture.md).

    With `config.shared_encoder_decoder` (§3.2 "Enc-dec, shared", spec M25) there is no `encoder` subtree:
    the encoder runs the decoder's blocks, final norm and rel_bias table (bidirectional buckets, M21)
    without their cross-attention sub-layers, which stay decoder-only.
    """

    config: T5Config
    INPUT_KEYS: ClassVar[tuple[str, ...]] = INPUT_KEYS  # seqio EncDecFeatureConverter keys it consumes

    def setup(self) -> None:
        cfg = self.config
        self.token_embedder = Embed(cfg)
        if not cfg.shared_encoder_decoder:
            self.encoder = T5Stack(cfg, cfg.num_encoder_layers, has_cross_attention=False)
        self.decoder = T5Stack(cfg, cfg.num_decoder_layers, has_cross_attention=True)

    def encode(self, encoder_input_tokens: Array, encoder_segment_ids: Array | None = None,
               encoder_positions: Array | None = None, *, deterministic: bool = True) -> Array:
        """Encoder output [B, S, d] (post final norm + dropout, spec M5); bidirectional buckets (M21).

        `encoder_positions` is accepted for seqio compatibility and unused: relative positions come from
        the index in the packed row, exact within contiguous segments (spec M10).
        """
        del encoder_positions
        nonpad = (encoder_input_tokens > 0)[..., None] if self.config.zero_padding else None
        x = self.token_embedder(encoder_input_tokens)
        # spec M25: the shared model's encoder is the decoder stack called without an encoder output,
        # so T5Block skips cross-attention.
        stack = self.decoder if self.config.shared_encoder_decoder else self.encoder
        return stack(x, encoder_self_mask(encoder_input_tokens, encoder_segment_ids), None, None, nonpad,
                     bidirectional=True, deterministic=deterministic)

    def decode(self, encoded: Array, encoder_input_tokens: Array, decoder_input_tokens: Array,
               encoder_segment_ids: Array | None = None, decoder_segment_ids: Array | None = None,
               decoder_positions: Array | None = None, *, deterministic: bool = True,
               decode: bool = False) -> Array:
        """Decoder logits [B, T, V] float32; `decode=True` uses the key/value cache (spec M76)."""
        del decoder_positions  # relative positions come from the packed-row index (M10)
        cfg = self.config
        length = decoder_input_tokens.shape[1]
        if decode:
            # Cache initialisation call (full length) gets the causal mask; single steps build it from
            # the cache index inside attention.
            self_mask = decoder_self_mask(length) if length > 1 else None
            nonpad = None
        else:
            self_mask = decoder_self_mask(length, decoder_segment_ids)
            nonpad = ((decoder_segment_ids > 0)[..., None]
                      if (cfg.zero_padding and decoder_segment_ids is not None) else None)
        x = self.token_embedder(decoder_input_tokens)
        y = self.decoder(x, self_mask, encoded,
                         cross_mask(encoder_input_tokens, decoder_segment_ids, encoder_segment_ids), nonpad,
                         bidirectional=False, deterministic=deterministic, decode=decode)
        # spec M12: tied output with the mandatory d^-0.5 factor, float32 over all V rows (M2: no masking).
        return self.token_embedder.attend(y.astype(jnp.float32) * (cfg.d_model ** -0.5))

    def __call__(self, encoder_input_tokens: Array, decoder_input_tokens: Array,
                 encoder_segment_ids: Array | None = None, decoder_segment_ids: Array | None = None,
                 encoder_positions: Array | None = None, decoder_positions: Array | None = None, *,
                 deterministic: bool) -> Array:
        """Teacher-forced forward pass: logits [B, L_t, V] float32 (spec M11, M12, M34)."""
        encoded = self.encode(encoder_input_tokens, encoder_segment_ids, encoder_positions,
                              deterministic=deterministic)
        return self.decode(encoded, encoder_input_tokens, decoder_input_tokens, encoder_segment_ids,
                           decoder_segment_ids, decoder_positions, deterministic=deterministic)


def init_params(model: T5, rng: Array, *, batch_size: int = 1, input_length: int = 1,
                target_length: int = 1, unbox: bool = True) -> Any:
    """Initialise float32 parameters; `unbox=False` keeps the logical-axis boxes (spec M79) for sharding."""
    enc = jnp.ones((batch_size, input_length), jnp.int32)
    dec = jnp.ones((batch_size, target_length), jnp.int32)
    variables = model.init({"params": rng, "dropout": rng}, enc, dec, deterministic=True)
    params = variables["params"]
    return nn.unbox(params) if unbox else params


def param_logical_axes(config: T5Config) -> Any:
    """PartitionSpec tree of logical axis names per parameter (spec M79), computed without allocation."""
    boxed = jax.eval_shape(lambda: init_params(T5(config), jax.random.PRNGKey(0), unbox=False))
    return nn.get_partition_spec(boxed)
