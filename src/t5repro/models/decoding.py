"""Decoding with a key/value cache: greedy (§3, M73), beam search (§3.7, M74) and ensembles (§3.6, M71).

The search loops (`greedy_search`, `beam_search`) see the model only through a step function
`tokens_to_logits(ids [N, 1], cache) -> (logits [N, V] float32, cache)`, so that any architecture with an
incremental decoder (the T5 encoder-decoder here, a decoder-only LM after its prompt prefill) can plug in.
`t5_step_fn` builds that function for `T5` (spec M76: encoder and cross-attention K/V once per input),
`recompute_step_fn` a cache-free one that re-runs the full decoder each step (the reference path), and
`ensemble_step_fn` averages several members' logits (M71).

Hand-written rather than imported: t5x's `decoding.beam_search` is the reference (same 2·beam candidate
rule, same penalty, same "no finished hypothesis -> return the live ones" fallback), but t5x is not a
dependency of this project and flax ships no beam search; the loop is small and tested against a naive
NumPy beam search (tests/models/test_beam_search.py).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from t5repro.models.t5 import T5

Array = jax.Array
StepFn = Callable[[Array, Any], tuple[Array, Any]]
"""`tokens_to_logits(ids [N, 1] int32, cache) -> (logits [N, V] float32, new cache)`: one decoder step.

`ids` is the token fed at the current decoder position (the start id at position 0); the logits are the
prediction for that position. Cache leaves either have leading dimension N (rows; beam search reorders
them) or are scalars (e.g. a shared cache index; left alone)."""

DECODER_START_ID = 0  # spec M2 / M73: pad id 0 is also the decoder start token
EOS_ID = 1            # spec M2
METHODS = ("greedy", "beam")
ENSEMBLE_REDUCTIONS = ("mean_logit", "mean_prob")  # spec M71 (paper) | Mesh TF's default
BEAM_LENGTH_MULTIPLIER = 1.5  # spec M75: beam search stops at 1.5 x (longest input in the batch) + 10
BEAM_LENGTH_CONSTANT = 10


# ----------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class DecodingConfig:
    """How evaluation decodes (Hydra block `decoding`): greedy for §3 (M73), beam 4 / alpha 0.6 for §3.7 (M74)."""

    method: str = "greedy"
    beam_size: int = 4
    alpha: float = 0.6
    ensemble_reduction: str = "mean_logit"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"decoding.method must be one of {METHODS}, got {self.method!r}")
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, (int, np.integer)) \
                or self.beam_size < 1:
            raise ValueError(f"decoding.beam_size must be an integer >= 1, got {self.beam_size!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float, np.number)) \
                or not np.isfinite(self.alpha) or self.alpha < 0:
            # alpha >= 0 keeps the early-stopping bound of `beam_search` exact.
            raise ValueError(f"decoding.alpha must be a finite number >= 0, got {self.alpha!r}")
        if self.ensemble_reduction not in ENSEMBLE_REDUCTIONS:
            raise ValueError(f"decoding.ensemble_reduction must be one of {ENSEMBLE_REDUCTIONS}, "
                             f"got {self.ensemble_reduction!r}")


# ----------------------------------------------------------------- pieces


def brevity_penalty(alpha: float | Array, length: Any) -> Any:
    """GNMT length penalty ((5 + length) / 6)^alpha (spec M74; Mesh TF beam_search, t5x brevity_penalty).

    `length` counts the generated tokens including EOS, not the decoder start id: at loop step i it is i + 1.
    """
    return jnp.power((5.0 + jnp.asarray(length, jnp.float32)) / 6.0, alpha)


def mask_vocab(logits: Array, valid_vocab_size: int | None) -> Array:
    """Logits [..., V] with rows >= `valid_vocab_size` set to -inf: padded vocabulary is never emitted (D36)."""
    vocab = logits.shape[-1]
    if valid_vocab_size is None or valid_vocab_size >= vocab:
        return logits
    return jnp.where(jnp.arange(vocab) < valid_vocab_size, logits, -jnp.inf)


def reduce_ensemble_logits(logits: Array, reduction: str = "mean_logit") -> Array:
    """Members' logits [M, N, V] -> [N, V] (spec M71).

    `mean_logit` (the paper's "averaging the logits", §3.6) is the normalised geometric mean of the
    members' probabilities; `mean_prob` returns log of the arithmetic mean probability (Mesh TF's default
    `reduce_ensemble_logits_mean_prob`).
    """
    if reduction == "mean_logit":
        return jnp.mean(logits, axis=0)
    if reduction == "mean_prob":
        return jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1), axis=0) - jnp.log(logits.shape[0])
    raise ValueError(f"decoding.ensemble_reduction must be one of {ENSEMBLE_REDUCTIONS}, got {reduction!r}")


def ensemble_step_fn(step_fns: Sequence[StepFn], reduction: str = "mean_logit") -> StepFn:
    """One step function for several members: runs each on its own cache and reduces the logits (M71).

    The combined cache is the tuple of the members' caches, so beam search reorders every member's cache.
    """
    fns = tuple(step_fns)
    if not fns:
        raise ValueError("an ensemble needs at least one member")
    if reduction not in ENSEMBLE_REDUCTIONS:
        raise ValueError(f"decoding.ensemble_reduction must be one of {ENSEMBLE_REDUCTIONS}, got {reduction!r}")

    def step(ids: Array, caches: tuple) -> tuple[Array, tuple]:
        outs = [fn(ids, c) for fn, c in zip(fns, caches)]
        if len(outs) == 1:
            return outs[0][0], (outs[0][1],)
        logits = reduce_ensemble_logits(jnp.stack([o[0] for o in outs]), reduction)
        return logits, tuple(o[1] for o in outs)

    return step


def recompute_step_fn(full_logits: Callable[[Array], Array], rows: int, max_decode_length: int
                      ) -> tuple[StepFn, Any]:
    """A cache-free step function: the "cache" is the decoder input so far, re-run in full every step.

    `full_logits(decoder_input_tokens [N, L]) -> logits [N, L, V]` must be causal (positions after the
    current one are zeros and invisible). Reference path for tests of the K/V cache (M76).
    """
    cache = {"decoder_input_tokens": jnp.zeros((rows, max_decode_length), jnp.int32),
             "index": jnp.array(0, jnp.int32)}

    def step(ids: Array, state: dict) -> tuple[Array, dict]:
        i = state["index"]
        tokens = lax.dynamic_update_slice(state["decoder_input_tokens"], ids.astype(jnp.int32), (0, i))
        logits = lax.dynamic_index_in_dim(full_logits(tokens), i, axis=1, keepdims=False)
        return logits, {"decoder_input_tokens": tokens, "index": i + 1}

    return step, cache


def gather_rows(tree: Any, rows: Array) -> Any:
    """Every cache leaf with leading dimension N indexed by `rows` [N]; scalar leaves (indices) kept.

    A leaf with any other leading dimension is an error: it would silently stay with the wrong beam.
    """
    n = rows.shape[0]

    def gather(path: Any, x: Array) -> Array:
        x = jnp.asarray(x)
        if x.ndim == 0:
            return x
        if x.shape[0] != n:
            raise ValueError(f"cache leaf {jax.tree_util.keystr(path)} has shape {x.shape}: expected leading "
                             f"dimension batch*beam={n} or a scalar")
        return jnp.take(x, rows, axis=0)

    return jax.tree_util.tree_map_with_path(gather, tree)


def expand_to_beams(tree: Any, beam_size: int) -> Any:
    """Repeat every non-scalar leaf `beam_size` times along axis 0: [B, ...] -> [B*beam, ...], beam minor."""
    return jax.tree.map(lambda x: x if jnp.ndim(x) == 0 else jnp.repeat(x, beam_size, axis=0), tree)


# ----------------------------------------------------------------- search loops


def greedy_search(tokens_to_logits: StepFn, cache: Any, *, batch_size: int, max_decode_length: int,
                  eos_id: int = EOS_ID, start_id: int | Array = DECODER_START_ID,
                  valid_vocab_size: int | None = None) -> Array:
    """Greedy ids [B, L]: argmax each step, stop at EOS (kept), 0 afterwards (spec M73); traceable under jit.

    `start_id` (scalar or [B]) is the first token fed: 0 for T5 (M73), the prompt's last token for an LM (M76).
    """
    out0 = jnp.zeros((batch_size, max_decode_length), jnp.int32)

    def cond(state: tuple) -> Array:
        i, _, _, done, _ = state
        return (i < max_decode_length) & ~jnp.all(done)

    def body(state: tuple) -> tuple:
        i, prev, out, done, cache = state
        logits, cache = tokens_to_logits(prev[:, None], cache)
        pick = jnp.argmax(mask_vocab(logits, valid_vocab_size), axis=-1).astype(jnp.int32)
        nxt = jnp.where(done, 0, pick)  # pad with 0 after EOS (M73)
        out = lax.dynamic_update_slice(out, nxt[:, None], (0, i))
        return i + 1, nxt, out, done | (nxt == eos_id), cache

    prev0 = jnp.broadcast_to(jnp.asarray(start_id, jnp.int32), (batch_size,))
    done0 = jnp.zeros((batch_size,), bool)
    _, _, out, _, _ = lax.while_loop(cond, body, (jnp.array(0, jnp.int32), prev0, out0, done0, cache))
    return out


def beam_search(tokens_to_logits: StepFn, cache: Any, *, batch_size: int, beam_size: int, alpha: float | Array,
                max_decode_length: int, eos_id: int = EOS_ID, start_id: int | Array = DECODER_START_ID,
                valid_vocab_size: int | None = None, decode_limit: Array | int | None = None
                ) -> tuple[Array, Array]:
    """Beam search (spec M74): sequences [B, beam, L] and scores [B, beam], best first; traceable under jit.

    `cache` leaves hold N = B * beam rows (flat, beam minor: row b * beam + k; see `expand_to_beams`) or are
    scalars; `start_id` (scalar or [B]) is the first token fed, as in `greedy_search`. Each step extends
    every live beam by every token, keeps the 2 * beam best by log-probability (so that beams reaching EOS
    together never empty the live set), moves those ending in EOS into the finished set with score
    log p / ((5 + len) / 6)^alpha (len counts EOS), and keeps the beam best others alive. The search stops at `decode_limit` tokens (default `max_decode_length`, the buffer length) or as
    soon as no live beam can beat the worst finished one (exact for alpha >= 0 since log p only falls).
    If no hypothesis of a batch row finished, its live beams are returned with raw log-probabilities
    (Mesh TF / t5x behaviour); finished slots never filled have score -inf.
    """
    b, k, length = batch_size, beam_size, max_decode_length
    limit = jnp.minimum(jnp.asarray(length if decode_limit is None else decode_limit, jnp.int32), length)
    neg_inf = jnp.array(-jnp.inf, jnp.float32)
    live_logp0 = jnp.tile(jnp.array([0.0] + [-np.inf] * (k - 1), jnp.float32), (b, 1))  # one live beam at start
    state0 = (
        jnp.array(0, jnp.int32),                      # i: position being decoded
        jnp.broadcast_to(jnp.asarray(start_id, jnp.int32).reshape(-1, 1), (b, k)),  # last token of each live beam
        jnp.zeros((b, k, length), jnp.int32),          # live sequences
        live_logp0,                                    # live log-probabilities
        jnp.zeros((b, k, length), jnp.int32),          # finished sequences
        jnp.full((b, k), -jnp.inf, jnp.float32),       # finished scores (length-penalised)
        cache,
    )
    row_base = (jnp.arange(b, dtype=jnp.int32) * k)[:, None]

    def take(x: Array, idx: Array) -> Array:
        """x [B, M, ...] at idx [B, J] along axis 1."""
        return jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1)

    def cond(state: tuple) -> Array:
        i, _, _, live_logp, _, fin_scores, _ = state
        # Best score any live beam could still reach: log p never rises and the penalty is largest at `limit`.
        best_live = jnp.max(live_logp, axis=1) / brevity_penalty(alpha, limit)
        worst_finished = jnp.min(fin_scores, axis=1)  # -inf while a finished slot is empty
        return (i < limit) & ~jnp.all(worst_finished > best_live)

    def body(state: tuple) -> tuple:
        i, last, live_seqs, live_logp, fin_seqs, fin_scores, cache = state
        logits, cache = tokens_to_logits(last.reshape(b * k, 1), cache)
        logp = jax.nn.log_softmax(mask_vocab(logits.astype(jnp.float32), valid_vocab_size), axis=-1)
        vocab = logp.shape[-1]
        logp = logp.reshape(b, k, vocab) + live_logp[:, :, None]
        top_logp, top_idx = lax.top_k(logp.reshape(b, k * vocab), 2 * k)  # [B, 2k]
        top_beam, top_tok = top_idx // vocab, (top_idx % vocab).astype(jnp.int32)
        top_seqs = lax.dynamic_update_slice(take(live_seqs, top_beam), top_tok[:, :, None], (0, 0, i))
        is_eos = top_tok == eos_id

        # Live: the k best candidates not ending in EOS; their caches follow them (every leaf, M76).
        alive_logp, alive_pos = lax.top_k(jnp.where(is_eos, neg_inf, top_logp), k)
        new_live_seqs = take(top_seqs, alive_pos)
        new_last = take(top_tok, alive_pos)
        cache = gather_rows(cache, (row_base + take(top_beam, alive_pos)).reshape(b * k))

        # Finished: merge the new EOS candidates (penalised by their length i + 1) with the old ones.
        new_scores = jnp.where(is_eos, top_logp / brevity_penalty(alpha, i + 1), neg_inf)
        all_scores = jnp.concatenate([fin_scores, new_scores], axis=1)
        all_seqs = jnp.concatenate([fin_seqs, top_seqs], axis=1)
        fin_scores, fin_pos = lax.top_k(all_scores, k)
        fin_seqs = take(all_seqs, fin_pos)
        return i + 1, new_last, new_live_seqs, alive_logp, fin_seqs, fin_scores, cache

    _, _, live_seqs, live_logp, fin_seqs, fin_scores, _ = lax.while_loop(cond, body, state0)
    any_finished = jnp.any(fin_scores > -jnp.inf, axis=1)
    seqs = jnp.where(any_finished[:, None, None], fin_seqs, live_seqs)
    scores = jnp.where(any_finished[:, None], fin_scores, live_logp)
    return seqs, scores


def beam_length_cap(encoder_input_tokens: Any, max_decode_length: int) -> int:
    """min(max_decode_length, int(1.5 * longest non-padding input in the batch + 10)) (spec M75, Mesh TF)."""
    longest = int(np.max(np.sum(np.asarray(encoder_input_tokens) != 0, axis=-1), initial=0))
    return int(min(max_decode_length, int(longest * BEAM_LENGTH_MULTIPLIER + BEAM_LENGTH_CONSTANT)))


# ----------------------------------------------------------------- T5


def t5_step_fn(model: T5, params: Any, encoder_input_tokens: Array, *, max_decode_length: int,
               num_beams: int = 1, use_cache: bool = True) -> tuple[StepFn, Any]:
    """The step function and initial cache of T5 for B inputs decoded in B * num_beams rows (spec M76).

    The encoder runs once on the B inputs; its output and the input ids are repeated per beam, and the
    decoder self-attention and cross-attention K/V cache is created once for B * num_beams rows.
    `use_cache=False` gives the full-recompute step function instead (reference path).
    """
    variables = {"params": params}
    encoded = model.apply(variables, encoder_input_tokens, deterministic=True, method=T5.encode)
    encoded, tokens = expand_to_beams((encoded, encoder_input_tokens), num_beams)
    rows = tokens.shape[0]
    if not use_cache:
        def full(decoder_input_tokens: Array) -> Array:
            return model.apply(variables, encoded, tokens, decoder_input_tokens, deterministic=True,
                               method=T5.decode)
        return recompute_step_fn(full, rows, max_decode_length)

    _, state = model.apply(variables, encoded, tokens, jnp.zeros((rows, max_decode_length), jnp.int32),
                           deterministic=True, decode=True, method=T5.decode, mutable=["cache"])

    def step(ids: Array, cache: Any) -> tuple[Array, Any]:
        logits, new_state = model.apply({"params": params, "cache": cache}, encoded, tokens, ids,
                                        deterministic=True, decode=True, method=T5.decode, mutable=["cache"])
        return logits[:, 0], new_state["cache"]

    return step, state["cache"]


def _members(params: Any) -> tuple:
    """A list/tuple of parameter trees is an ensemble (M71); anything else is one model's parameters."""
    members = tuple(params) if isinstance(params, (list, tuple)) else (params,)
    if not members:
        raise ValueError("params: an ensemble needs at least one parameter set")
    return members


def _t5_ensemble_step(model: T5, members: tuple, tokens: Array, *, max_decode_length: int, num_beams: int,
                      use_cache: bool, reduction: str) -> tuple[StepFn, Any]:
    built = [t5_step_fn(model, p, tokens, max_decode_length=max_decode_length, num_beams=num_beams,
                        use_cache=use_cache) for p in members]
    return ensemble_step_fn([s for s, _ in built], reduction), tuple(c for _, c in built)


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "eos_id", "valid_vocab_size",
                                             "use_cache", "reduction"))
def _greedy(model: T5, members: tuple, tokens: Array, *, max_decode_length: int, eos_id: int,
            valid_vocab_size: int | None, use_cache: bool, reduction: str) -> Array:
    """The whole greedy decode under one jit: encoders once, then a `while_loop` over target positions."""
    step, cache = _t5_ensemble_step(model, members, tokens, max_decode_length=max_decode_length, num_beams=1,
                                    use_cache=use_cache, reduction=reduction)
    return greedy_search(step, cache, batch_size=tokens.shape[0], max_decode_length=max_decode_length,
                         eos_id=eos_id, valid_vocab_size=valid_vocab_size)


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "beam_size", "eos_id",
                                             "valid_vocab_size", "use_cache", "reduction"))
def _beam(model: T5, members: tuple, tokens: Array, decode_limit: Array, alpha: Array, *, max_decode_length: int,
          beam_size: int, eos_id: int, valid_vocab_size: int | None, use_cache: bool,
          reduction: str) -> tuple[Array, Array]:
    """The whole beam search under one jit; `decode_limit` and `alpha` are traced: changing them does not recompile."""
    step, cache = _t5_ensemble_step(model, members, tokens, max_decode_length=max_decode_length,
                                    num_beams=beam_size, use_cache=use_cache, reduction=reduction)
    return beam_search(step, cache, batch_size=tokens.shape[0], beam_size=beam_size, alpha=alpha,
                       max_decode_length=max_decode_length, eos_id=eos_id, valid_vocab_size=valid_vocab_size,
                       decode_limit=decode_limit)


def _check_length(max_decode_length: int) -> int:
    if int(max_decode_length) <= 0:
        raise ValueError(f"max_decode_length must be positive, got {max_decode_length}")
    return int(max_decode_length)


def greedy_decode(model: T5, params: Any, encoder_input_tokens: Any, *, max_decode_length: int,
                  eos_id: int = EOS_ID, valid_vocab_size: int | None = None, use_cache: bool = True,
                  ensemble_reduction: str = "mean_logit") -> np.ndarray:
    """Greedy ids [B, max_decode_length]: start id 0, stop at EOS (kept), 0 after it (spec M73, M76).

    `params` is one parameter tree, or a list/tuple of trees of the same model: an ensemble whose logits are
    averaged each step (M71). `encoder_input_tokens` are right-padded with 0; `valid_vocab_size` masks the
    padding rows of the rounded-up vocabulary (D36). `use_cache=False` recomputes the full decoder each step.
    """
    tokens = jnp.asarray(encoder_input_tokens, jnp.int32)
    out = _greedy(model, _members(params), tokens, max_decode_length=_check_length(max_decode_length),
                  eos_id=int(eos_id), valid_vocab_size=None if valid_vocab_size is None else int(valid_vocab_size),
                  use_cache=bool(use_cache), reduction=str(ensemble_reduction))
    return np.asarray(jax.device_get(out))


def beam_decode(model: T5, params: Any, encoder_input_tokens: Any, *, max_decode_length: int, beam_size: int = 4,
                alpha: float = 0.6, eos_id: int = EOS_ID, valid_vocab_size: int | None = None,
                use_cache: bool = True, ensemble_reduction: str = "mean_logit",
                decode_limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Beam search (spec M74): ids [B, beam, max_decode_length] and scores [B, beam], best first.

    Arguments as `greedy_decode`; `decode_limit` stops earlier than the buffer length (M75's beam cap,
    see `beam_length_cap`) without a new compilation.
    """
    DecodingConfig(method="beam", beam_size=beam_size, alpha=alpha, ensemble_reduction=ensemble_reduction)
    length = _check_length(max_decode_length)
    tokens = jnp.asarray(encoder_input_tokens, jnp.int32)
    limit = jnp.asarray(length if decode_limit is None else int(decode_limit), jnp.int32)
    seqs, scores = _beam(model, _members(params), tokens, limit, jnp.asarray(alpha, jnp.float32),
                         max_decode_length=length, beam_size=int(beam_size), eos_id=int(eos_id),
                         valid_vocab_size=None if valid_vocab_size is None else int(valid_vocab_size),
                         use_cache=bool(use_cache), reduction=str(ensemble_reduction))
    return np.asarray(jax.device_get(seqs)), np.asarray(jax.device_get(scores))


def decode(model: T5, params: Any, encoder_input_tokens: Any, config: DecodingConfig, *, max_decode_length: int,
           eos_id: int = EOS_ID, valid_vocab_size: int | None = None) -> np.ndarray:
    """Ids [B, max_decode_length] by `config`: greedy (M73), or the best beam capped per M75 (M74)."""
    from t5repro.models.decoder_only import DecoderOnly

    if isinstance(model, DecoderOnly):  # Table 2's LM and prefix LM: greedy over the prompt [inputs…, EOS] (M27/M28)
        if config.method != "greedy" or isinstance(params, (list, tuple)):
            raise ValueError("decoding.method=beam and ensembles (io.ensemble_dirs) are built for the "
                             "encoder-decoder; the decoder-only architectures of §3.2 decode greedily (M73)")
        from t5repro.models.decoding_lm import greedy_decode_lm

        return greedy_decode_lm(model, params, encoder_input_tokens, max_decode_length=max_decode_length,
                                eos_id=eos_id, valid_vocab_size=valid_vocab_size)
    if config.method == "greedy":
        return greedy_decode(model, params, encoder_input_tokens, max_decode_length=max_decode_length,
                             eos_id=eos_id, valid_vocab_size=valid_vocab_size,
                             ensemble_reduction=config.ensemble_reduction)
    seqs, _ = beam_decode(model, params, encoder_input_tokens, max_decode_length=max_decode_length,
                          beam_size=config.beam_size, alpha=config.alpha, eos_id=eos_id,
                          valid_vocab_size=valid_vocab_size, ensemble_reduction=config.ensemble_reduction,
                          decode_limit=beam_length_cap(encoder_input_tokens, max_decode_length))
    return seqs[:, 0]
