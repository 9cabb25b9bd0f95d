"""Beam search (spec M74, M75, M76) and ensembles (M71) against naive decoders that never use a cache.

The reference `naive_beam` is a plain loop over hypotheses: every step it re-runs the full decoder on each
live prefix, extends it by every token, keeps the 2 * beam best, moves EOS endings to the finished list
scored log p / ((5 + len) / 6)^alpha, and runs to the length limit (no early stop), as Mesh TF / t5x do.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from t5repro.models import T5
from t5repro.models.decoding import (
    DecodingConfig,
    beam_decode,
    beam_length_cap,
    beam_search,
    brevity_penalty,
    decode,
    expand_to_beams,
    gather_rows,
    greedy_decode,
    greedy_search,
    reduce_ensemble_logits,
)

MAX_LEN = 7
BEAM = 4
ALPHA = 0.6


@pytest.fixture(scope="module")
def other_params(tiny_params):
    """A second member: the same tree with every leaf perturbed (a differently trained model)."""
    leaves, treedef = jax.tree.flatten(tiny_params)
    keys = jax.random.split(jax.random.PRNGKey(11), len(leaves))
    return jax.tree.unflatten(treedef, [x + 0.3 * jnp.std(x) * jax.random.normal(k, x.shape)
                                        for k, x in zip(keys, leaves)])


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


@functools.lru_cache(maxsize=None)
def _forward(model: T5):
    """The jitted teacher-forced forward pass (no cache), compiled once per shape."""
    return jax.jit(lambda p, e, d: model.apply({"params": p}, e, d, deterministic=True))


def full_logits_fn(model: T5, members: list, enc: np.ndarray, reduction: str = "mean_logit"):
    """logits(rows [N], decoder inputs [N, L]) -> [N, L, V] float64 by full recompute (no cache), members reduced."""
    fwd = _forward(model)

    def logits(rows: np.ndarray, dec: np.ndarray) -> np.ndarray:
        outs = np.stack([np.asarray(fwd(p, enc[rows], dec), np.float64) for p in members])
        if reduction == "mean_logit":
            return outs.mean(axis=0)
        lp = _log_softmax(outs)
        return np.log(np.mean(np.exp(lp), axis=0))  # mean_prob

    return logits


def naive_beam(logits_fn, n_rows: int, beam: int, alpha: float, max_len: int, eos_id: int = 1,
               valid_vocab_size: int | None = None, limit: int | None = None) -> list[list[tuple[tuple, float]]]:
    """Per batch row, the returned hypotheses (tokens, score), best first (see module docstring)."""
    limit = max_len if limit is None else limit
    live = [[((), 0.0)] for _ in range(n_rows)]
    finished: list[list[tuple[tuple, float]]] = [[] for _ in range(n_rows)]
    for i in range(limit):
        # one full forward over every live prefix of every row: decoder input [0, y_1..y_i], zero-padded
        rows, dec = [], []
        for b in range(n_rows):
            for seq, _ in live[b]:
                rows.append(b)
                dec.append(list((0,) + seq) + [0] * (max_len - 1 - len(seq)))
        pad = n_rows * beam - len(rows)  # fixed shape: one compilation
        logits = logits_fn(np.array(rows + [0] * pad), np.array(dec + [[0] * max_len] * pad, np.int32))[:, i]
        if valid_vocab_size is not None:
            logits = logits[:, :valid_vocab_size]
        logp = _log_softmax(logits)
        j = 0
        for b in range(n_rows):
            cands = []
            for seq, lp in live[b]:
                cands += [(lp + logp[j, t], seq + (t,)) for t in range(logp.shape[1])]
                j += 1
            cands = sorted(cands, key=lambda c: -c[0])[:2 * beam]  # stable: beam order, then token id
            new_fin = [(seq, lp / ((5.0 + i + 1) / 6.0) ** alpha) for lp, seq in cands if seq[-1] == eos_id]
            finished[b] = sorted(finished[b] + new_fin, key=lambda f: -f[1])[:beam]
            live[b] = [(seq, lp) for lp, seq in cands if seq[-1] != eos_id][:beam]
    return [finished[b] if finished[b] else live[b] for b in range(n_rows)]


def naive_greedy(logits_fn, n_rows: int, max_len: int, eos_id: int = 1) -> np.ndarray:
    """Argmax of the full-recompute logits at each step; stop at EOS, 0 afterwards (M73)."""
    out = np.zeros((n_rows, max_len), np.int32)
    done = np.zeros(n_rows, bool)
    for i in range(max_len):
        dec = np.concatenate([np.zeros((n_rows, 1), np.int32), out[:, :-1]], axis=1)
        nxt = np.where(done, 0, np.argmax(logits_fn(np.arange(n_rows), dec)[:, i], axis=-1))
        out[:, i] = nxt
        done |= nxt == eos_id
    return out


def sequence_logprob(model: T5, params, enc: np.ndarray, seqs: np.ndarray, eos_id: int,
                     valid_vocab_size: int | None = None) -> np.ndarray:
    """Teacher-forced log p of each row of `seqs` [B, L] up to and including its first EOS (D36 rows masked)."""
    dec = np.concatenate([np.zeros((seqs.shape[0], 1), np.int32), seqs[:, :-1]], axis=1)
    logp = _log_softmax(np.asarray(_forward(model)(params, enc, dec))[..., :valid_vocab_size])
    out = []
    for b, row in enumerate(seqs.tolist()):
        n = row.index(eos_id) + 1 if eos_id in row else len(row)
        out.append(sum(logp[b, t, row[t]] for t in range(n)))
    return np.array(out)


def _as_hyps(seqs: np.ndarray, scores: np.ndarray, eos_id: int, limit: int | None = None
             ) -> list[list[tuple[tuple, float]]]:
    """Our [B, beam, L] / [B, beam] output as hypothesis lists (unfinished ones `limit` long), no -inf slots."""
    out = []
    for b in range(seqs.shape[0]):
        hyps = []
        for k in range(seqs.shape[1]):
            if not np.isfinite(scores[b, k]):
                continue
            row = seqs[b, k].tolist()
            n = row.index(eos_id) + 1 if eos_id in row else (limit or len(row))
            assert all(t == 0 for t in row[n:])  # 0 after EOS (M73)
            hyps.append((tuple(row[:n]), float(scores[b, k])))
        out.append(hyps)
    return out


def _assert_same(ours, ref, tol: float = 1e-4) -> None:
    assert len(ours) == len(ref)
    for b, (o, r) in enumerate(zip(ours, ref)):
        assert [s for s, _ in o] == [s for s, _ in r], f"row {b}: ours {o} != naive {r}"
        np.testing.assert_allclose([v for _, v in o], [v for _, v in r], rtol=tol, atol=tol)


def _frequent_token(model, params, enc) -> int:
    """A token that greedy decoding emits early: used as EOS so that some beams finish before the limit."""
    free = greedy_decode(model, params, enc, max_decode_length=MAX_LEN)
    return int(free[0, 1])


def test_cached_beam_equals_naive_and_recompute_m74_m76(tiny_config, tiny_params, batch) -> None:
    """(a) Spec M74/M76: K/V-cached beam search == cache-free jitted beam == naive loop, with padding and EOS."""
    model = T5(tiny_config)
    eos = _frequent_token(model, tiny_params, batch)
    seqs, scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM,
                               alpha=ALPHA, eos_id=eos)
    assert seqs.shape == (3, BEAM, MAX_LEN) and scores.shape == (3, BEAM)
    ours = _as_hyps(seqs, scores, eos)
    ref = naive_beam(full_logits_fn(model, [tiny_params], batch), 3, BEAM, ALPHA, MAX_LEN, eos_id=eos)
    _assert_same(ours, ref)
    lengths = [len(s) for hyps in ours for s, _ in hyps if s[-1] == eos]
    assert lengths and min(lengths) < MAX_LEN  # some beams finished early
    assert all(np.all(np.diff(scores[b][np.isfinite(scores[b])]) <= 0) for b in range(3))  # best first
    full_seqs, full_scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM,
                                         alpha=ALPHA, eos_id=eos, use_cache=False)
    np.testing.assert_array_equal(full_seqs, seqs)
    np.testing.assert_allclose(full_scores, scores, rtol=1e-5)


def test_no_finished_hypothesis_returns_live_beams_m74(tiny_config, tiny_params, batch) -> None:
    """Mesh TF / t5x fallback: when no beam can reach EOS, the live beams come back with raw log-probs."""
    model = T5(tiny_config)
    eos = valid = tiny_config.vocab_size - 1  # the EOS id lies in the masked rows (D36): never emitted
    seqs, scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM, alpha=ALPHA,
                               eos_id=eos, valid_vocab_size=valid)
    ours = _as_hyps(seqs, scores, eos)
    _assert_same(ours, naive_beam(full_logits_fn(model, [tiny_params], batch), 3, BEAM, ALPHA, MAX_LEN,
                                  eos_id=eos, valid_vocab_size=valid))
    assert all(len(s) == MAX_LEN for hyps in ours for s, _ in hyps) and all(len(h) == BEAM for h in ours)


def test_beam_width_one_is_greedy_m73_m74(tiny_config, tiny_params, batch) -> None:
    """(b) Width 1 follows the greedy path (M73); it differs only where EOS ranked second ended a better hypothesis.

    The 2 * beam candidates of M74 let width 1 finish a prefix + EOS that greedy passed over; with alpha 0
    that is chosen only when its log p beats the greedy sequence's, so beam-1 log p >= greedy log p, with
    the greedy ids wherever they are equal. With an EOS that cannot be emitted the two are identical.
    """
    model = T5(tiny_config)
    eos = valid = tiny_config.vocab_size - 1
    greedy = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, eos_id=eos, valid_vocab_size=valid)
    seqs, scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=1, alpha=0.0,
                               eos_id=eos, valid_vocab_size=valid)
    np.testing.assert_array_equal(seqs[:, 0], greedy)
    np.testing.assert_allclose(scores[:, 0], sequence_logprob(model, tiny_params, batch, greedy, eos, valid),
                               rtol=1e-5)

    eos = _frequent_token(model, tiny_params, batch)
    greedy = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, eos_id=eos)
    seqs, scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=1, alpha=0.0,
                               eos_id=eos)
    g_lp = sequence_logprob(model, tiny_params, batch, greedy, eos)
    b_lp = sequence_logprob(model, tiny_params, batch, seqs[:, 0], eos)
    np.testing.assert_allclose(scores[:, 0], b_lp, rtol=1e-5)
    assert (greedy == eos).any()
    for r in range(batch.shape[0]):
        if np.array_equal(seqs[r, 0], greedy[r]):
            continue
        assert b_lp[r] > g_lp[r]
        n = list(seqs[r, 0]).index(eos)  # a greedy prefix, then EOS where greedy continued
        np.testing.assert_array_equal(seqs[r, 0, :n], greedy[r, :n])


def _exhaustive_best(model, params, enc, alpha: float, max_len: int, valid: int, eos: int):
    """All sequences over `valid` tokens ending in EOS within `max_len`, scored by full recompute."""
    fwd = functools.partial(_forward(model), params, enc)
    others = [t for t in range(valid) if t != eos]
    scored = []
    for n in range(1, max_len + 1):
        for body in itertools.product(others, repeat=n - 1):
            seq = body + (eos,)
            dec = np.array([[0, *seq[:-1]] + [0] * (max_len - n)], np.int32)
            logp = _log_softmax(np.asarray(fwd(dec))[0, :, :valid])
            lp = sum(logp[t, tok] for t, tok in enumerate(seq))
            scored.append((lp / ((5.0 + n) / 6.0) ** alpha, seq))
    return sorted(scored, key=lambda s: -s[0])


@pytest.mark.parametrize("alpha", [0.0, ALPHA, 3.0])
def test_wide_beam_finds_exhaustive_best_m74(tiny_config, tiny_params, batch, alpha) -> None:
    """(c) With 3 tokens, length <= 4 and width 16 >= every live prefix, beam search is exhaustive (M74)."""
    model = T5(tiny_config)
    enc = batch[:1]
    valid, eos, max_len = 3, 1, 4
    seqs, scores = beam_decode(model, tiny_params, enc, max_decode_length=max_len, beam_size=16, alpha=alpha,
                               eos_id=eos, valid_vocab_size=valid)
    ranked = _exhaustive_best(model, tiny_params, enc, alpha, max_len, valid, eos)
    ours = _as_hyps(seqs, scores, eos)[0]
    assert len(ours) == len(ranked) == 1 + 2 + 4 + 8  # every finished sequence is kept
    assert ours[0][0] == ranked[0][1]
    np.testing.assert_allclose([v for _, v in ours], [v for v, _ in ranked], rtol=1e-5)


def _table_step(probs: np.ndarray):
    """A generic step function with fixed next-token probabilities per position: probs [L, V]."""
    table = jnp.log(jnp.asarray(probs, jnp.float32))

    def step(ids, cache):
        logits = jnp.broadcast_to(table[cache["i"]], (ids.shape[0], table.shape[1]))
        return logits, {"i": cache["i"] + 1, "last": ids[:, 0]}

    return step


def test_length_penalty_changes_the_choice_m74() -> None:
    """(d) M74: [EOS] has log p -0.69, [a, EOS] -0.74: alpha 0 keeps the short one, alpha 0.6 the long one.

    Scores are log p / ((5 + len) / 6)^alpha with len counting EOS: -0.744 / (7/6)^0.6 = -0.679 > -0.693.
    """
    pad, eos, a = 0, 1, 2
    probs = np.array([[1e-6, 0.5, 0.5], [1e-6, 0.95, 0.05], [1e-6, 0.5, 0.5]])
    probs /= probs.sum(axis=1, keepdims=True)
    results = {}
    for alpha in (0.0, 0.6):
        cache = expand_to_beams({"i": jnp.array(0), "last": jnp.zeros((1,), jnp.int32)}, 2)
        seqs, scores = jax.jit(lambda c, al=alpha: beam_search(_table_step(probs), c, batch_size=1, beam_size=2,
                                                               alpha=al, max_decode_length=3))(cache)
        results[alpha] = (np.asarray(seqs)[0, 0].tolist(), float(scores[0, 0]))
    lp_short, lp_long = np.log(probs[0, eos]), np.log(probs[0, a]) + np.log(probs[1, eos])
    assert results[0.0][0] == [eos, pad, pad]
    assert results[0.0][1] == pytest.approx(lp_short, rel=1e-5)
    assert results[0.6][0] == [a, eos, pad]
    assert results[0.6][1] == pytest.approx(lp_long / (7 / 6) ** 0.6, rel=1e-5)
    assert float(brevity_penalty(0.6, 2)) == pytest.approx((7 / 6) ** 0.6)


def test_generic_step_function_with_per_row_start_ids_m76() -> None:
    """The loops need only `tokens_to_logits(ids, cache)`: a counter model (next = last + 1) from per-row starts.

    A decoder-only LM continues its prompt from the prompt's last token (M76), hence a start id per row.
    """
    vocab, eos = 8, 7

    def step(ids, cache):
        logits = 5.0 * jax.nn.one_hot((ids[:, 0] + 1) % vocab, vocab)
        return logits, {"seen": cache["seen"] + ids[:, 0], "steps": cache["steps"] + 1}

    starts = jnp.array([2, 4])
    greedy = jax.jit(lambda c: greedy_search(step, c, batch_size=2, max_decode_length=5, eos_id=eos,
                                             start_id=starts))({"seen": jnp.zeros(2, jnp.int32), "steps": 0})
    np.testing.assert_array_equal(greedy, [[3, 4, 5, 6, 7], [5, 6, 7, 0, 0]])
    cache = expand_to_beams({"seen": jnp.zeros(2, jnp.int32), "steps": jnp.array(0)}, 3)
    seqs, _ = jax.jit(lambda c: beam_search(step, c, batch_size=2, beam_size=3, alpha=ALPHA, max_decode_length=5,
                                            eos_id=eos, start_id=starts))(cache)
    np.testing.assert_array_equal(np.asarray(seqs)[:, 0], greedy)


def test_ensemble_of_copies_equals_single_model_m71(tiny_config, tiny_params, batch) -> None:
    """(e) M71: an ensemble of identical members decodes exactly like the single model, greedy and beam."""
    model = T5(tiny_config)
    single = greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN)
    np.testing.assert_array_equal(greedy_decode(model, [tiny_params] * 2, batch, max_decode_length=MAX_LEN), single)
    eos = _frequent_token(model, tiny_params, batch)
    s1, sc1 = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM, alpha=ALPHA,
                          eos_id=eos)
    s2, sc2 = beam_decode(model, (tiny_params, tiny_params), batch, max_decode_length=MAX_LEN, beam_size=BEAM,
                          alpha=ALPHA, eos_id=eos)
    np.testing.assert_array_equal(s2, s1)
    np.testing.assert_allclose(sc2, sc1, rtol=1e-5)


def test_ensemble_of_two_models_equals_naive_average_m71(tiny_config, tiny_params, other_params, batch) -> None:
    """(e) M71: two different members == a naive per-step average of full-recompute logits (beam and greedy)."""
    model = T5(tiny_config)
    members = [tiny_params, other_params]
    logits_fn = full_logits_fn(model, members, batch)
    eos = _frequent_token(model, tiny_params, batch)
    seqs, scores = beam_decode(model, members, batch, max_decode_length=MAX_LEN, beam_size=BEAM, alpha=ALPHA,
                               eos_id=eos)
    _assert_same(_as_hyps(seqs, scores, eos), naive_beam(logits_fn, 3, BEAM, ALPHA, MAX_LEN, eos_id=eos))
    greedy = greedy_decode(model, members, batch, max_decode_length=MAX_LEN, eos_id=eos)
    np.testing.assert_array_equal(greedy, naive_greedy(logits_fn, 3, MAX_LEN, eos_id=eos))
    alone = [greedy_decode(model, p, batch, max_decode_length=MAX_LEN, eos_id=eos) for p in members]
    assert not (np.array_equal(greedy, alone[0]) and np.array_equal(greedy, alone[1]))  # the average matters
    prob = greedy_decode(model, members, batch, max_decode_length=MAX_LEN, eos_id=eos, ensemble_reduction="mean_prob")
    np.testing.assert_array_equal(prob, naive_greedy(full_logits_fn(model, members, batch, "mean_prob"), 3, MAX_LEN,
                                                     eos_id=eos))


def test_reduce_ensemble_logits_mean_logit_and_mean_prob_m71() -> None:
    """M71: mean_logit averages raw logits; mean_prob is log of the mean probability; unknown names raise."""
    logits = jnp.array([[[0.0, 2.0, -1.0]], [[1.0, -3.0, 0.5]]])
    np.testing.assert_allclose(reduce_ensemble_logits(logits, "mean_logit"), [[0.5, -0.5, -0.25]])
    probs = np.mean(np.exp(_log_softmax(np.asarray(logits))), axis=0)
    np.testing.assert_allclose(reduce_ensemble_logits(logits, "mean_prob"), np.log(probs), rtol=1e-6)
    with pytest.raises(ValueError, match="decoding.ensemble_reduction"):
        reduce_ensemble_logits(logits, "median")


def test_gather_rows_reorders_every_row_leaf_and_keeps_scalars() -> None:
    """Beam reordering: each [N, ...] cache leaf follows its beam; scalars stay; a foreign leading dim raises."""
    cache = {"layer": {"k": jnp.arange(12.0).reshape(4, 3), "index": jnp.array(5)}, "ids": jnp.arange(4)}
    got = gather_rows(cache, jnp.array([1, 1, 3, 2]))
    np.testing.assert_array_equal(got["ids"], [1, 1, 3, 2])
    np.testing.assert_array_equal(got["layer"]["k"][2], [9.0, 10.0, 11.0])
    assert int(got["layer"]["index"]) == 5
    with pytest.raises(ValueError, match=r"\['bad'\].*batch\*beam=4"):
        gather_rows({"bad": jnp.zeros((2, 3))}, jnp.arange(4))
    np.testing.assert_array_equal(expand_to_beams(jnp.array([7, 8]), 2), [7, 7, 8, 8])


def test_decode_limit_and_length_cap_m75(tiny_config, tiny_params, batch) -> None:
    """M75: beam search stops at 1.5 x longest input + 10 (capped by the buffer) without recompiling."""
    assert beam_length_cap(batch, 128) == int(6 * 1.5 + 10)
    assert beam_length_cap(batch, 12) == 12
    assert beam_length_cap(np.zeros((2, 4), np.int32), 128) == 10
    model = T5(tiny_config)
    eos = _frequent_token(model, tiny_params, batch)
    seqs, scores = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM, alpha=ALPHA,
                               eos_id=eos, decode_limit=3)
    ref = naive_beam(full_logits_fn(model, [tiny_params], batch), 3, BEAM, ALPHA, MAX_LEN, eos_id=eos, limit=3)
    _assert_same(_as_hyps(seqs, scores, eos, limit=3), ref)
    assert np.all(seqs[:, :, 3:] == 0)


def test_decode_dispatches_on_config(tiny_config, tiny_params, batch) -> None:
    """`decode` is greedy by default (§3, M73) and the best beam for method=beam (M74)."""
    model = T5(tiny_config)
    np.testing.assert_array_equal(decode(model, tiny_params, batch, DecodingConfig(), max_decode_length=MAX_LEN),
                                  greedy_decode(model, tiny_params, batch, max_decode_length=MAX_LEN))
    cfg = DecodingConfig(method="beam", beam_size=BEAM, alpha=ALPHA)
    seqs, _ = beam_decode(model, tiny_params, batch, max_decode_length=MAX_LEN, beam_size=BEAM, alpha=ALPHA)
    np.testing.assert_array_equal(decode(model, tiny_params, batch, cfg, max_decode_length=MAX_LEN), seqs[:, 0])


@pytest.mark.parametrize("kwargs, key", [
    ({"method": "sample"}, "decoding.method"),
    ({"beam_size": 0}, "decoding.beam_size"),
    ({"beam_size": 2.5}, "decoding.beam_size"),
    ({"alpha": -0.1}, "decoding.alpha"),
    ({"alpha": float("nan")}, "decoding.alpha"),
    ({"ensemble_reduction": "vote"}, "decoding.ensemble_reduction"),
])
def test_decoding_config_errors_name_the_key(kwargs, key) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        DecodingConfig(**kwargs)
