"""Model-ready batches: a registered seqio Task -> the architecture's feature converter (D49-D52) -> numpy dicts.

Every §3.2 architecture (Table 2) takes seqio's own converter (`feature_converter`):
- encoder-decoder, shared, 6+6 layers: `EncDecFeatureConverter` (D50). Keys: encoder_input_tokens,
  decoder_input_tokens, decoder_target_tokens, decoder_loss_weights and, when packed, encoder_segment_ids,
  encoder_positions, decoder_segment_ids, decoder_positions.
- decoder-only LM and prefix LM: `DecoderFeatureConverter`, which is `PrefixLMFeatureConverter` for a Task
  with inputs (one sequence `[inputs…, EOS, targets…, EOS]`, D52, M27/M28) and `LMFeatureConverter` for a
  targets-only Task (objective `lm`, D51, M32). Keys: decoder_input_tokens, decoder_target_tokens,
  decoder_loss_weights, decoder_causal_attention (with inputs) and, when packed, decoder_segment_ids,
  decoder_positions; length L_inputs + L_targets (targets-only: L_targets).
All int32, shaped [batch_size, length].
"""

from __future__ import annotations

import logging
from typing import Iterator, Mapping

import numpy as np
import seqio
import tensorflow as tf

from t5repro.config import ConfigError

logger = logging.getLogger(__name__)

# TensorFlow only runs the input pipeline (seqio); the accelerator belongs to JAX. Without this, TF
# grabs GPU memory that the train step needs.
tf.config.set_visible_devices([], "GPU")

UNPACKED_KEYS = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
PACKED_KEYS = UNPACKED_KEYS + ("encoder_segment_ids", "encoder_positions", "decoder_segment_ids",
                               "decoder_positions")
# Decoder-only keys (D51/D52): a text-to-text Task adds decoder_causal_attention, a packed one the last two.
DECODER_ONLY_KEYS = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")
PREFIX_KEY = "decoder_causal_attention"
DECODER_PACKING_KEYS = ("decoder_segment_ids", "decoder_positions")


def feature_converter(arch_name: str, *, pack: bool, loss_on_targets_only: bool | None = None
                      ) -> seqio.FeatureConverter:
    """seqio's converter for a §3.2 architecture (Table 2): how a Task's (inputs, targets) reach the model.

    The choice per architecture lives in one place, `t5repro.models.architectures.ARCHITECTURES`:
    EncDecFeatureConverter for the encoder-decoders (D50); DecoderFeatureConverter with loss everywhere for
    the LM (M27) and on the targets only for the prefix LM (M28, spec model.md Q1 default).

    Args:
      arch_name: `arch.name`.
      pack: pack examples into rows with segment ids and positions (D49).
      loss_on_targets_only: prefix LM only; None keeps the architecture's default (True for the prefix LM,
        Q1); False gives the reference gin's behaviour (lm_v1_ifa.gin).

    Raises:
      ConfigError (a ValueError) naming `arch.name` for an unknown architecture.
    """
    from t5repro.models import architectures

    overrides = {} if loss_on_targets_only is None else {"loss_on_targets_only": bool(loss_on_targets_only)}
    return architectures.feature_converter(arch_name, pack=pack, **overrides)


def feature_converter_from_cfg(arch_cfg: Mapping, *, pack: bool) -> seqio.FeatureConverter:
    """`feature_converter` for the `arch` config group: `arch.name` and the optional `arch.loss_on_targets_only`."""
    if "name" not in arch_cfg:
        raise ValueError("arch.name is missing: it selects the model's feature converter (§3.2)")
    name = str(arch_cfg["name"])
    loss_on_targets_only = arch_cfg.get("loss_on_targets_only", None)
    if loss_on_targets_only is None:
        return feature_converter(name, pack=pack)  # prefix LM: targets-only loss, spec model.md Q1 default
    if name != "prefix_lm":
        raise ValueError(f"arch.loss_on_targets_only is a prefix LM switch (spec model.md Q1); arch.name={name!r} "
                         "has none (encoder-decoder: loss on targets, D50; LM: loss everywhere, M27)")
    if not isinstance(loss_on_targets_only, bool):
        raise ValueError(f"arch.loss_on_targets_only must be true or false, got {loss_on_targets_only!r}")
    return feature_converter(name, pack=pack, loss_on_targets_only=loss_on_targets_only)


def model_keys(converter: seqio.FeatureConverter, *, has_inputs: bool = True) -> tuple[str, ...]:
    """The keys a converter's batches carry (the model's side of the data contract)."""
    if isinstance(converter, seqio.EncDecFeatureConverter):
        return PACKED_KEYS if converter.pack else UNPACKED_KEYS
    keys = DECODER_ONLY_KEYS + ((PREFIX_KEY,) if has_inputs else ())
    return keys + (DECODER_PACKING_KEYS if converter.pack else ())


def model_features(
    task_name: str,
    *,
    split: str,
    sequence_length: Mapping[str, int],
    pack: bool,
    seed: int | None,
    shuffle: bool = True,
    num_epochs: int | None = None,
    converter: seqio.FeatureConverter | None = None,
    shard_info: seqio.ShardInfo | None = None,
) -> tf.data.Dataset:
    """Unbatched model features of a Task (D41 pipeline, then D49 packing and the converter, D50-D52).

    `shard_info` (spec M85): read only this process's disjoint share of the split (`input_shard`); seqio
    splits it by files when the source has at least `num_shards` of them, else by examples. Packing and
    segment ids are then computed here, on the host, from the share alone.

    `converter` defaults to `EncDecFeatureConverter(pack=pack)`; a given one must agree with `pack`. This is
    `seqio.get_dataset` written out in its two steps (Task.get_dataset, then the converter) so that the
    converter receives the lengths of the features the Task actually yields: a targets-only Task (objective
    `lm`, M32) must reach `DecoderFeatureConverter` without an inputs length to be packed as a plain LM (D51).
    """
    if converter is None:
        converter = seqio.EncDecFeatureConverter(pack=pack)
    elif converter.pack != pack:
        raise ValueError(f"pack={pack} but the feature converter was built with pack={converter.pack}")
    lengths = {k: int(v) for k, v in sequence_length.items() if k in ("inputs", "targets")}
    ds = seqio.get_mixture_or_task(task_name).get_dataset(
        lengths, split=split, use_cached=False, shuffle=shuffle, seed=seed, num_epochs=num_epochs,
        trim_output_features=True, shard_info=shard_info)
    task_lengths = {k: v for k, v in lengths.items() if k in ds.element_spec}
    if isinstance(converter, seqio.EncDecFeatureConverter) and "inputs" not in task_lengths:
        raise ValueError(f"Task {task_name!r} yields targets only (e.g. objective.name='lm', spec D51/D72); "
                         "EncDecFeatureConverter needs inputs: use a decoder-only arch.name "
                         "(decoder_only_lm, prefix_lm)")
    return converter(ds, task_lengths)


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
    converter: seqio.FeatureConverter | None = None,
    shard_info: seqio.ShardInfo | None = None,
    batch_size_key: str = "batch_size",
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of model features as numpy dicts; endless (drop_remainder) when num_epochs is None.

    `batch_size` is the global batch. With `shard_info` (spec M85, several processes) this process reads
    its own share of the data and yields batch_size / num_shards rows of each global batch;
    `Partitioner.shard_batch` assembles the global array. An indivisible batch raises naming
    `batch_size_key` (e.g. `pretrain.batch_size`).
    """
    rows = local_batch_size(batch_size, shard_info, key=batch_size_key)
    ds = model_features(task_name, split=split, sequence_length=sequence_length, pack=pack, seed=seed,
                        shuffle=shuffle, num_epochs=num_epochs, converter=converter, shard_info=shard_info)
    ds = ds.batch(rows, drop_remainder=num_epochs is None).prefetch(tf.data.AUTOTUNE)
    return ds.as_numpy_iterator()


def input_shard(index: int, count: int) -> seqio.ShardInfo | None:
    """seqio's ShardInfo for input share `index` of `count` (spec M85); None for one share, so a single
    process reads exactly what it read before (same examples, same order)."""
    if not 0 <= index < count:
        raise ValueError(f"input shard index {index} is not in [0, {count})")
    return None if count == 1 else seqio.ShardInfo(index=int(index), num_shards=int(count))


def local_batch_size(batch_size: int, shard_info: seqio.ShardInfo | None, *, key: str = "batch_size") -> int:
    """Rows this process loads per global batch: batch_size / shares (spec M85); the error names `key`."""
    shares = 1 if shard_info is None else int(shard_info.num_shards)
    if int(batch_size) % shares:
        raise ConfigError(f"{key}={batch_size} is not divisible by the {shares} input shares (one per process "
                         "or group of processes holding the same rows, spec M85)")
    return int(batch_size) // shares
