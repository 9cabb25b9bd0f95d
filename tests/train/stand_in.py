"""A tiny Flax encoder-decoder with the T5 batch keys, so trainer tests do not depend on the real model."""

from __future__ import annotations

import types

import jax.numpy as jnp
import numpy as np
from flax import linen as nn

VOCAB = 32


class StandIn(nn.Module):
    """Embed -> mean-pooled encoder context + decoder embedding -> dense (with dropout) -> logits."""

    vocab: int = VOCAB
    d: int = 16

    @nn.compact
    def __call__(self, encoder_input_tokens, decoder_input_tokens, encoder_segment_ids=None,
                 decoder_segment_ids=None, encoder_positions=None, decoder_positions=None, *, deterministic: bool):
        emb = nn.Embed(self.vocab, self.d, name="embed")
        enc = emb(encoder_input_tokens)
        mask = (encoder_input_tokens > 0)[..., None]
        ctx = (enc * mask).sum(1, keepdims=True) / jnp.maximum(mask.sum(1, keepdims=True), 1)
        x = emb(decoder_input_tokens) + nn.Dense(self.d, use_bias=False, name="ctx")(ctx)
        x = nn.Dropout(0.1)(nn.relu(nn.Dense(4 * self.d, use_bias=False, name="wi")(x)), deterministic=deterministic)
        x = nn.Dense(self.d, use_bias=False, name="wo")(x)
        x = x * self.param("scale", nn.initializers.ones, (self.d,))
        return emb.attend(x).astype(jnp.float32)


def batch_stream(seed: int, *, batch_size: int = 4, inputs: int = 12, targets: int = 6, vocab: int = VOCAB):
    """Deterministic infinite stream of copy-task batches (targets = first tokens of inputs)."""
    rng = np.random.default_rng(seed)
    while True:
        enc = rng.integers(2, vocab, size=(batch_size, inputs)).astype(np.int32)
        tgt = enc[:, :targets].copy()
        tgt[:, -1] = 1  # EOS
        dec = np.concatenate([np.zeros((batch_size, 1), np.int32), tgt[:, :-1]], axis=1)
        yield {"encoder_input_tokens": enc, "decoder_input_tokens": dec, "decoder_target_tokens": tgt,
               "decoder_loss_weights": (tgt > 0).astype(np.int32)}


def packed_batch(seed: int, *, batch_size: int = 8, inputs: int = 64, targets: int = 16, vocab: int = 128) -> dict:
    """One fixed packed batch with the D50 keys: two segments per row, trailing padding on the inputs."""
    rng = np.random.default_rng(seed)
    enc = rng.integers(2, vocab, size=(batch_size, inputs)).astype(np.int32)
    tgt = rng.integers(2, vocab, size=(batch_size, targets)).astype(np.int32)
    h_in, h_t = inputs // 2, targets // 2
    enc_seg = np.where(np.arange(inputs) < h_in, 1, 2)[None].repeat(batch_size, 0).astype(np.int32)
    enc_seg[:, -3:] = 0
    enc[:, -3:] = 0
    enc[:, h_in - 1] = enc[:, -4] = 1  # EOS closes each input segment
    dec_seg = np.where(np.arange(targets) < h_t, 1, 2)[None].repeat(batch_size, 0).astype(np.int32)
    tgt[:, h_t - 1] = tgt[:, -1] = 1
    dec = np.concatenate([np.zeros((batch_size, 1), np.int32), tgt[:, :-1]], axis=1)
    dec[:, h_t] = 0  # each target segment starts from the start id 0

    def positions(seg: np.ndarray) -> np.ndarray:
        """Per-segment positions 0, 1, ... of the first row (all rows share the layout), repeated per row."""
        row = np.concatenate([np.arange((seg[0] == s).sum()) for s in (1, 2, 0) if (seg[0] == s).any()])
        return row[None].repeat(batch_size, 0).astype(np.int32)

    return {"encoder_input_tokens": enc, "decoder_input_tokens": dec, "decoder_target_tokens": tgt,
            "decoder_loss_weights": (tgt > 0).astype(np.int32), "encoder_segment_ids": enc_seg,
            "decoder_segment_ids": dec_seg, "encoder_positions": positions(enc_seg),
            "decoder_positions": positions(dec_seg)}


def data_modules(calls: list | None = None) -> dict[str, types.ModuleType]:
    """Stand-ins for t5repro.vocab / tasks / data (the stages look them up at call time): a 100-row
    vocabulary, fake task names, and an endless packed batch per call (recorded in `calls` if given)."""
    vocab = types.ModuleType("t5repro.vocab")
    vocab.get_vocabulary = lambda path, extra_ids=100: types.SimpleNamespace(vocab_size=100)
    tasks = types.ModuleType("t5repro.tasks")
    tasks.register_pretraining_task = lambda cfg: "c4_fake"
    tasks.pretraining_sequence_length = lambda cfg: dict(cfg.pretrain.sequence_length)
    tasks.register_downstream_task = lambda cfg: f"{cfg.task.name}_fake"
    data = types.ModuleType("t5repro.data")

    def get_batches(name, *, split, sequence_length, batch_size, pack, seed, **kw):
        if calls is not None:
            calls.append((name, split, dict(sequence_length), batch_size, pack, seed))
        b = packed_batch(seed, batch_size=batch_size, inputs=sequence_length["inputs"],
                         targets=sequence_length["targets"])
        while True:
            yield b

    data.get_batches = get_batches
    # The §3.2 converter the stage asks for, as a tag (these batches are always encoder-decoder ones).
    data.feature_converter_from_cfg = lambda arch_cfg, *, pack: ("converter", str(arch_cfg["name"]), pack)
    return {"t5repro.vocab": vocab, "t5repro.tasks": tasks, "t5repro.data": data}
