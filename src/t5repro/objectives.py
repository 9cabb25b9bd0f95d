"""§3.3 unsupervised objectives as seqio token preprocessors, built from noise-mask x inputs x targets pieces.

Spec data.md §3 (D44-D47) and §4 (D60-D73). Every objective is `denoise(noise_mask_fn, inputs_fn, targets_fn)`
over the document-chunking pieces, so the axes of Tables 3-7 are arguments. Randomness is stateless and
per example: seeds come from `seqio.map_over_dataset(num_seeds=1)`, which seqio derives from the dataset
seed (`seqio.map_seed_manager`), so a pipeline is reproducible under a seed (D60). The seed stream is T5's:
each seeded map draws one seed, in the same order as `t5.data.preprocessors` (select_random_chunk splits it
in two and uses the second, split_tokens draws one it does not use, denoise splits it in six), so every
objective yields exactly T5's examples under the same seed (tests/test_objectives_t5_golden.py). Sentinels
are computed from the vocabulary size, never looked up (D33/D64). No deviation from T5 intended.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping, Optional

import seqio
import tensorflow as tf

NoiseMaskFn = Callable[..., tf.Tensor]
SpanFn = Callable[..., tf.Tensor]

MAX_CHUNK_LENGTH = 65536  # spec D44
CONCAT_BATCH_SIZE = 128  # spec D45


# ----------------------------------------------------------------- document chunking (D44-D46)


def select_random_chunk(
    dataset: tf.data.Dataset,
    output_features: Optional[Mapping[str, seqio.Feature]] = None,
    *,
    max_length: int = MAX_CHUNK_LENGTH,
    feature_key: str = "targets",
) -> tf.data.Dataset:
    """Keep one random `max_length`-aligned chunk of each document, dropping empty ones (D44)."""
    del output_features
    dataset = dataset.filter(lambda x: tf.size(x[feature_key]) > 0)  # spec D44: drop empty examples

    @seqio.map_over_dataset(num_seeds=1)
    def _chunk(x: dict, seed: tf.Tensor) -> dict:
        tokens = x[feature_key]
        n = tf.size(tokens)
        num_chunks = (n + max_length - 1) // max_length  # ceil(n / 65536)
        chunk_seed = tf.random.experimental.stateless_split(seed)[1]  # T5's seed stream (see the module docstring)
        j = tf.random.stateless_uniform([], seed=chunk_seed, minval=0, maxval=num_chunks, dtype=tf.int32)
        start = j * max_length
        return {feature_key: tokens[start : tf.minimum(start + max_length, n)]}

    return _chunk(dataset)


def reduce_concat_tokens(
    dataset: tf.data.Dataset,
    *,
    feature_key: str = "targets",
    batch_size: int = CONCAT_BATCH_SIZE,
) -> tf.data.Dataset:
    """Concatenate the tokens of `batch_size` consecutive documents, no separator or EOS between them (D45)."""
    dataset = dataset.map(lambda x: {feature_key: x[feature_key]}, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.padded_batch(batch_size, padded_shapes={feature_key: [None]})

    def _flatten(x: dict) -> dict:
        tokens = tf.reshape(x[feature_key], [-1])
        return {feature_key: tf.boolean_mask(tokens, tf.not_equal(tokens, 0))}  # padding removed (D45)

    return dataset.map(_flatten, num_parallel_calls=tf.data.AUTOTUNE)


def split_tokens(
    dataset: tf.data.Dataset,
    *,
    max_tokens_per_segment: int,
    feature_key: str = "targets",
) -> tf.data.Dataset:
    """Cut each token list into consecutive segments of exactly M tokens, the remainder last (D46)."""
    m = int(max_tokens_per_segment)
    if m < 1:
        raise ValueError(f"split_tokens: max_tokens_per_segment must be >= 1, got {m}")

    @seqio.map_over_dataset(num_seeds=1)
    def _segments(x: dict, seed: tf.Tensor) -> tf.data.Dataset:
        del seed  # drawn only to keep T5's seed stream: T5's split_tokens is a seeded map (module docstring)
        tokens = x[feature_key]
        n = tf.size(tokens, out_type=tf.int64)
        num_full = n // m
        lengths = tf.concat([tf.fill([num_full], tf.constant(m, tf.int64)), tf.reshape(n % m, [1])], 0)
        lengths = tf.boolean_mask(lengths, lengths > 0)  # spec D46: drop empty pieces
        ragged = tf.RaggedTensor.from_row_lengths(tokens, lengths)
        return tf.data.Dataset.from_tensor_slices(ragged)

    return _segments(dataset).flat_map(lambda pieces: pieces).map(lambda t: {feature_key: t},
                                                                   num_parallel_calls=tf.data.AUTOTUNE)


def split_tokens_to_inputs_length(
    dataset: tf.data.Dataset, sequence_length: Mapping[str, int], *, feature_key: str = "targets"
) -> tf.data.Dataset:
    """split_tokens with M = L_inputs - 1, leaving room for EOS (D46)."""
    return split_tokens(dataset, max_tokens_per_segment=sequence_length["inputs"] - 1, feature_key=feature_key)


# ----------------------------------------------------------------- noise masks (D61, D62)


def _round_half_even(x: tf.Tensor) -> tf.Tensor:
    """Round half to even as the spec requires (D47/D62); tf.round already does banker's rounding."""
    return tf.cast(tf.round(x), tf.int32)


def iid_noise_mask(length: tf.Tensor, noise_density: float, seeds: tf.Tensor) -> tf.Tensor:
    """I.i.d. corruption: mask[i] = U_i < d with U_i ~ Uniform[0, 1) (D61). Returns bool [length]."""
    return tf.random.stateless_uniform([length], seed=seeds[0]) < noise_density


def random_composition(num_items: tf.Tensor, num_segments: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """A uniformly random split of `num_items` into `num_segments` positive parts (D62 step 3). int32 [s]."""
    boundaries = tf.cast(tf.range(num_items - 1) < num_segments - 1, tf.int32)
    boundaries = seqio.stateless_shuffle(boundaries, seed)
    segment_ids = tf.cumsum(tf.pad(boundaries, [[1, 0]]))
    return tf.math.segment_sum(tf.ones_like(segment_ids), segment_ids)


def interleave_spans(nonnoise_lengths: tf.Tensor, noise_lengths: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
    """Mask of spans [nonnoise_0, noise_0, nonnoise_1, noise_1, ...] cut to `length` (D62 step 4). bool [length]."""
    interleaved = tf.reshape(tf.stack([nonnoise_lengths, noise_lengths], axis=1), [-1])
    total = tf.reduce_sum(interleaved)
    span_starts = tf.cumsum(interleaved)[:-1]
    indicator = tf.math.unsorted_segment_sum(tf.ones_like(span_starts), span_starts, total)
    span_number = tf.cumsum(indicator)
    return tf.equal(span_number % 2, 1)[:length]


def random_spans_noise_mask(
    length: tf.Tensor, noise_density: float, seeds: tf.Tensor, mean_noise_span_length: float = 3.0
) -> tf.Tensor:
    """Noise of exactly n = round(L·d) tokens in s = round(n/μ) spans, first span clean, last noisy (D62)."""
    if noise_density == 0.0:
        return tf.zeros([length], tf.bool)
    length = tf.convert_to_tensor(length, tf.int32)
    padded_length = tf.maximum(length, 2)  # L' = max(L, 2)
    num_noise = tf.clip_by_value(
        _round_half_even(tf.cast(padded_length, tf.float32) * noise_density), 1, padded_length - 1)
    num_spans = tf.maximum(_round_half_even(tf.cast(num_noise, tf.float32) / mean_noise_span_length), 1)
    num_nonnoise = padded_length - num_noise
    # Each of the s non-noise spans needs >= 1 token; T5 fails obscurely here for d near 1 (never used by the paper).
    check = tf.debugging.assert_less_equal(
        num_spans, num_nonnoise, message="random_spans_noise_mask (D62): fewer non-noise tokens than spans")
    with tf.control_dependencies([check]):
        num_nonnoise = tf.identity(num_nonnoise)
    noise_lengths = random_composition(num_noise, num_spans, seeds[0])
    nonnoise_lengths = random_composition(num_nonnoise, num_spans, seeds[1])
    return interleave_spans(nonnoise_lengths, noise_lengths, length)


def random_prefix_noise_mask(length: tf.Tensor, noise_density: float, seeds: tf.Tensor) -> tf.Tensor:
    """Prefix LM: the first k positions are "noise" (the prefix), k ~ UniformInt[k_min, L-1] (D63). bool [L].

    k_min = min(L-1, max(1, round((1-2d)(L-1)))), so d = 0.5 draws k uniformly from [1, L-1]; L = 1 gives k = 0.
    """
    if not 0.0 <= noise_density <= 0.5:
        raise ValueError(f"random_prefix_noise_mask: noise_density must be in [0, 0.5] (spec D63), got {noise_density}")
    length = tf.convert_to_tensor(length, tf.int32)
    max_k = length - 1
    min_k = tf.minimum(max_k, tf.maximum(1, _round_half_even((1.0 - 2.0 * noise_density) * tf.cast(max_k, tf.float32))))
    k = tf.random.stateless_uniform([], seed=seeds[0], minval=min_k, maxval=max_k + 1, dtype=tf.int32)
    return tf.range(length) < k


# ----------------------------------------------------------------- inputs / targets pieces (D64-D71)


def sentinel_id(vocab_size: int, j: tf.Tensor | int = 0) -> tf.Tensor | int:
    """The j-th unique sentinel, vocab_size - 1 - j (D33/D64); vocab_size includes the extra ids."""
    return vocab_size - 1 - j


def noise_span_to_unique_sentinel(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """Replace each noise span by one unique sentinel, counting down from V-1 (D65)."""
    del seeds
    previous_is_noise = tf.pad(noise_mask[:-1], [[1, 0]])
    first_noise = tf.logical_and(noise_mask, tf.logical_not(previous_is_noise))
    later_noise = tf.logical_and(noise_mask, previous_is_noise)
    span_index = tf.cumsum(tf.cast(first_noise, tokens.dtype)) - 1  # 0 for the first span
    sentinels = sentinel_id(vocab_size, span_index)
    tokens = tf.where(first_noise, tf.cast(sentinels, tokens.dtype), tokens)
    return tf.boolean_mask(tokens, tf.logical_not(later_noise))


def nonnoise_span_to_unique_sentinel(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """D65 on the negated mask: sentinel j in targets names the same gap as sentinel j in inputs (D66)."""
    return noise_span_to_unique_sentinel(tokens, tf.logical_not(noise_mask), vocab_size, seeds)


def drop_noise_tokens(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """Keep the non-noise tokens only (D67)."""
    del vocab_size, seeds
    return tf.boolean_mask(tokens, tf.logical_not(noise_mask))


def drop_nonnoise_tokens(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """Keep the noise tokens only (D67)."""
    del vocab_size, seeds
    return tf.boolean_mask(tokens, noise_mask)


def noise_token_to_sentinel(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """"m" encoding: every noise token becomes the shared mask id V-1; length unchanged (D68)."""
    del seeds
    return tf.where(noise_mask, tf.cast(sentinel_id(vocab_size), tokens.dtype), tokens)


def noise_span_to_sentinel(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: Optional[tf.Tensor] = None
) -> tf.Tensor:
    """"s" encoding: every noise span becomes one shared mask id V-1 (D68)."""
    del seeds
    previous_is_noise = tf.pad(noise_mask[:-1], [[1, 0]])
    later_noise = tf.logical_and(noise_mask, previous_is_noise)
    tokens = tf.where(noise_mask, tf.cast(sentinel_id(vocab_size), tokens.dtype), tokens)
    return tf.boolean_mask(tokens, tf.logical_not(later_noise))


NUM_RESERVED_TOKENS = 3  # pad 0, EOS 1, unk 2 are never drawn as random tokens (D69)


def noise_token_to_random_token(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: tf.Tensor
) -> tf.Tensor:
    """Every noise token becomes a uniform id in [3, V), sentinels included (D69); length unchanged."""
    random_tokens = tf.random.stateless_uniform(tf.shape(tokens), seed=seeds[0], minval=NUM_RESERVED_TOKENS,
                                                maxval=vocab_size, dtype=tf.int32)
    return tf.where(noise_mask, tf.cast(random_tokens, tokens.dtype), tokens)


def noise_token_to_random_token_or_sentinel(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: tf.Tensor, random_prob: float = 0.1
) -> tf.Tensor:
    """BERT-style: a noise token becomes a random token with probability p (D69), else the mask id (D68) (D70).

    As in the paper (§3.3.1) there is no "keep unchanged" branch: a noise token only survives when the drawn
    random token happens to equal it.
    """
    use_random = tf.random.stateless_uniform(tf.shape(tokens), seed=seeds[0]) < random_prob
    return tf.where(use_random,
                    noise_token_to_random_token(tokens, noise_mask, vocab_size, seeds=seeds[1:]),
                    noise_token_to_sentinel(tokens, noise_mask, vocab_size))


def permute_noise_tokens(
    tokens: tf.Tensor, noise_mask: tf.Tensor, vocab_size: int, seeds: tf.Tensor
) -> tf.Tensor:
    """The noise tokens, uniformly permuted among the noise positions; non-noise tokens stay (D71)."""
    del vocab_size
    positions = tf.where(noise_mask)  # int64 [n, 1]
    shuffled = seqio.stateless_shuffle(tf.boolean_mask(tokens, noise_mask), seeds[0])
    return tf.tensor_scatter_nd_update(tokens, positions, shuffled)


# ----------------------------------------------------------------- the denoise framework (D60)


def denoise_tokens(
    tokens: tf.Tensor,
    *,
    vocab_size: int,
    noise_density: float,
    noise_mask_fn: NoiseMaskFn,
    inputs_fn: SpanFn,
    targets_fn: Optional[SpanFn],
    seeds: tf.Tensor,
) -> dict[str, tf.Tensor]:
    """One example of D60: mask = noise_mask_fn(L, d); inputs = inputs_fn(x, mask); targets = targets_fn or x."""
    mask = noise_mask_fn(tf.size(tokens), noise_density, seeds=seeds[0:2])
    inputs = inputs_fn(tokens, mask, vocab_size, seeds=seeds[2:4])
    targets = targets_fn(tokens, mask, vocab_size, seeds=seeds[4:6]) if targets_fn else tokens
    return {"inputs": inputs, "targets": targets}


def denoise(
    dataset: tf.data.Dataset,
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float,
    noise_mask_fn: NoiseMaskFn,
    inputs_fn: SpanFn,
    targets_fn: Optional[SpanFn] = None,
    input_feature_key: str = "targets",
) -> tf.data.Dataset:
    """Map every example's tokens to (inputs, targets) with per-example seeds (D60); EOS comes later (D43)."""
    vocab_size = output_features["targets"].vocabulary.vocab_size

    @seqio.map_over_dataset(num_seeds=1)
    def _denoise(x: dict, seed: tf.Tensor) -> dict:
        seeds = tf.random.experimental.stateless_split(seed, 6)  # one seed split in six, as T5 does
        return denoise_tokens(x[input_feature_key], vocab_size=vocab_size, noise_density=noise_density,
                              noise_mask_fn=noise_mask_fn, inputs_fn=inputs_fn, targets_fn=targets_fn,
                              seeds=seeds)

    return _denoise(dataset)


# ----------------------------------------------------------------- paper objectives (D72)


def iid_denoising(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 0.15,
) -> tf.data.Dataset:
    """§3.1.4 baseline (D72 "i.i.d. noise, replace spans"): 15 % i.i.d. tokens, runs -> unique sentinels.

    select_random_chunk (D44) -> reduce_concat_tokens (D45) -> split_tokens(L_in - 1) (D46) -> D61/D65/D66.
    """
    dataset = select_random_chunk(dataset, output_features)
    dataset = reduce_concat_tokens(dataset)
    dataset = split_tokens_to_inputs_length(dataset, sequence_length)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=iid_noise_mask,
                   inputs_fn=noise_span_to_unique_sentinel, targets_fn=nonnoise_span_to_unique_sentinel)


def random_spans_helper(
    inputs_length: int,
    noise_density: float,
    mean_noise_span_length: float,
    extra_tokens_per_span_inputs: int = 1,
    extra_tokens_per_span_targets: int = 1,
) -> tuple[int, int]:
    """(T*, targets length): the longest raw piece whose span-corrupted inputs fit in inputs_length (D47)."""

    def lengths(tokens_length: int) -> tuple[int, int]:
        num_noise = int(round(tokens_length * noise_density))  # Python round: half to even (D47)
        num_nonnoise = tokens_length - num_noise
        num_spans = int(round(num_noise / mean_noise_span_length))
        return (num_nonnoise + num_spans * extra_tokens_per_span_inputs + 1,
                num_noise + num_spans * extra_tokens_per_span_targets + 1)

    tokens_length = inputs_length - 1
    while lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = lengths(tokens_length)
    if noise_density == 0.5 and targets_length > inputs_length:  # D47 special case
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def span_corruption(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    mean_noise_span_length: float = 3.0,
    noise_density: float = 0.15,
) -> tf.data.Dataset:
    """§3.3.4 random spans (final objective: μ = 3, d = 0.15): D44 -> D45 -> split to T* (D47) -> D62/D65/D66."""
    tokens_length, targets_length = random_spans_helper(sequence_length["inputs"], noise_density,
                                                        mean_noise_span_length)
    if sequence_length["targets"] < targets_length:
        raise ValueError(
            f"span_corruption: targets length {sequence_length['targets']} < {targets_length} needed for "
            f"inputs {sequence_length['inputs']}, d={noise_density}, mu={mean_noise_span_length} (spec D47)")
    dataset = select_random_chunk(dataset, output_features)
    dataset = reduce_concat_tokens(dataset)
    dataset = split_tokens(dataset, max_tokens_per_segment=tokens_length)
    mask_fn = functools.partial(random_spans_noise_mask, mean_noise_span_length=mean_noise_span_length)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=mask_fn,
                   inputs_fn=noise_span_to_unique_sentinel, targets_fn=nonnoise_span_to_unique_sentinel)


def _pieces(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Optional[Mapping[str, seqio.Feature]],
    *,
    concat: bool,
) -> tf.data.Dataset:
    """D44, then D45 when `concat`, then D46 with M = L_inputs - 1: the raw pieces every D72 row starts from."""
    dataset = select_random_chunk(dataset, output_features)
    if concat:
        dataset = reduce_concat_tokens(dataset)
    return split_tokens_to_inputs_length(dataset, sequence_length)


def prefix_lm(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 0.5,
) -> tf.data.Dataset:
    """§3.3.1 prefix language modeling (D72): each document's piece cut at a random point (D63, d = 0.5);
    inputs = the prefix (drop_nonnoise, D67), targets = the rest (drop_noise). No concatenation."""
    dataset = _pieces(dataset, sequence_length, output_features, concat=False)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=random_prefix_noise_mask,
                   inputs_fn=drop_nonnoise_tokens, targets_fn=drop_noise_tokens)


def bert_style(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 0.15,
    random_token_prob: float = 0.1,
) -> tf.data.Dataset:
    """§3.3.1 BERT-style (D72): 15 % i.i.d. tokens (D61) -> 90 % mask id / 10 % random token (D70);
    targets = the whole original piece."""
    dataset = _pieces(dataset, sequence_length, output_features, concat=True)
    inputs_fn = functools.partial(noise_token_to_random_token_or_sentinel, random_prob=random_token_prob)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=iid_noise_mask,
                   inputs_fn=inputs_fn, targets_fn=None)


def deshuffling(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 1.0,
) -> tf.data.Dataset:
    """§3.3.1 deshuffling (D72): every token is noise (D61, d = 1) and the tokens are permuted (D71);
    targets = the original piece. No concatenation."""
    dataset = _pieces(dataset, sequence_length, output_features, concat=False)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=iid_noise_mask,
                   inputs_fn=permute_noise_tokens, targets_fn=None)


def mass_style(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 0.15,
) -> tf.data.Dataset:
    """§3.3.2 MASS-style (D72): 15 % i.i.d. tokens (D61) -> the mask id each (D68); targets = the original."""
    dataset = _pieces(dataset, sequence_length, output_features, concat=True)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=iid_noise_mask,
                   inputs_fn=noise_token_to_sentinel, targets_fn=None)


def drop_tokens(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Mapping[str, seqio.Feature],
    *,
    noise_density: float = 0.15,
) -> tf.data.Dataset:
    """§3.3.2 "drop corrupted tokens" (D72): 15 % i.i.d. tokens (D61) deleted from the inputs (drop_noise, D67);
    targets = the deleted tokens in order (drop_nonnoise)."""
    dataset = _pieces(dataset, sequence_length, output_features, concat=True)
    return denoise(dataset, output_features, noise_density=noise_density, noise_mask_fn=iid_noise_mask,
                   inputs_fn=drop_noise_tokens, targets_fn=drop_nonnoise_tokens)


def lm(
    dataset: tf.data.Dataset,
    sequence_length: Mapping[str, int],
    output_features: Optional[Mapping[str, seqio.Feature]] = None,
) -> tf.data.Dataset:
    """§3.2 language modeling for decoder-only models (D72 "LM"): D44 -> D45 -> split to L_targets - 1 (D46);
    the examples carry `targets` only (the LM feature converter, D51, consumes them)."""
    dataset = select_random_chunk(dataset, output_features)
    dataset = reduce_concat_tokens(dataset)
    return split_tokens(dataset, max_tokens_per_segment=sequence_length["targets"] - 1)


# Paper names of the D72 rows -> the preprocessor implementing each. "replace_spans" is Table 5's name for the
# i.i.d. baseline ("replace corrupted spans"); Tables 6 and 7 vary iid_denoising's and span_corruption's keys.
OBJECTIVES: dict[str, Callable[..., tf.data.Dataset]] = {
    "prefix_lm": prefix_lm,
    "bert_style": bert_style,
    "deshuffling": deshuffling,
    "mass_style": mass_style,
    "iid_denoising": iid_denoising,
    "replace_spans": iid_denoising,
    "drop_tokens": drop_tokens,
    "span_corruption": span_corruption,
    "lm": lm,
}
DECODER_ONLY_OBJECTIVES = frozenset({"lm"})
