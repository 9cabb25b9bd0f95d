"""Model-ready batches: a registered seqio Task -> EncDecFeatureConverter (D49/D50) -> numpy dicts.

Keys (the Data contract, D50): encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
decoder_loss_weights and, when packed, encoder_segment_ids, encoder_positions, decoder_segment_ids,
decoder_positions. All int32, shaped [batch_size, length].
"""

from __future__ import annotations

import logging
from typing import Iterator, Mapping

import numpy as np
import seqio
import tensorflow as tf

logger = logging.getLogger(__name__)

# TensorFlow only runs the input pipeline (seqio); the accelerator belongs to JAX. Without this, TF
# grabs GPU memory that the train step needs.
tf.config.set_visible_devices([], "GPU")

UNPACKED_KEYS = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
PACKED_KEYS = UNPACKED_KEYS + ("encoder_segment_ids", "encoder_positions", "decoder_segment_ids",
                               "decoder_positions")


def model_features(
    task_name: str,
    *,
    split: str,
    sequence_length: Mapping[str, int],
    pack: bool,
    seed: int | None,
    shuffle: bool = True,
    num_epochs: int | None = None,
) -> tf.data.Dataset:
    """Unbatched model features of a Task (D41 pipeline, then D49 packing and D50 conversion)."""
    lengths = {"inputs": int(sequence_length["inputs"]), "targets": int(sequence_length["targets"])}
    return seqio.get_dataset(
        task_name,
        task_feature_lengths=lengths,
        feature_converter=seqio.EncDecFeatureConverter(pack=pack),
        dataset_split=split,
        use_cached=False,
        shuffle=shuffle,
        num_epochs=num_epochs,
        seed=seed,
        verbose=False,
    )


def get_batches(
    task_name: str,
    *,
    split: str,
    sequence_length: Mapping[str, int],
    batch_size: int,
    pack: bool,
    seed: int | None,
    shuffle: bool = True,
    num_epochs: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of D50 features as numpy dicts; endless (drop_remainder) when num_epochs is None."""
    ds = model_features(task_name, split=split, sequence_length=sequence_length, pack=pack, seed=seed,
                        shuffle=shuffle, num_epochs=num_epochs)
    ds = ds.batch(int(batch_size), drop_remainder=num_epochs is None).prefetch(tf.data.AUTOTUNE)
    return ds.as_numpy_iterator()
