"""Convert T5 v1.0 parameters between our Flax tree and a Hugging Face `T5ForConditionalGeneration` state dict.

Used by the parity tests against the reference implementation (spec model.md M93, [HF]). The mapping is
one-to-one; the only transformations are transposes:

| ours (Flax, `[in, out]`) | HF (PyTorch `nn.Linear.weight`, `[out, in]`) |
|---|---|
| `token_embedder/embedding` [V, d] | `shared.weight` [V, d] (+ aliases, below) |
| `{enc,dec}/layers_i/self_attention/{query,key,value}/kernel` [d, H] | `{enc,dec}.block.i.layer.0.SelfAttention.{q,k,v}.weight` [H, d] |
| `{enc,dec}/layers_i/self_attention/out/kernel` [H, d] | `...SelfAttention.o.weight` [d, H] |
| `{enc,dec}/layers_0/self_attention/relpos_bias/rel_embedding` [h, buckets] | `{enc,dec}.block.0.layer.0.SelfAttention.relative_attention_bias.weight` [buckets, h] |
| `{enc,dec}/layers_i/pre_self_attention_layer_norm/scale` | `{enc,dec}.block.i.layer.0.layer_norm.weight` |
| `decoder/layers_i/encoder_decoder_attention/*` , `pre_cross_attention_layer_norm` | `decoder.block.i.layer.1.EncDecAttention.*`, `decoder.block.i.layer.1.layer_norm` |
| `{enc,dec}/layers_i/mlp/{wi,wo}/kernel` | `{enc,dec}.block.i.layer.{1 enc, 2 dec}.DenseReluDense.{wi,wo}.weight` |
| `{enc,dec}/layers_i/pre_mlp_layer_norm/scale` | `{enc,dec}.block.i.layer.{1,2}.layer_norm.weight` |
| `{enc,dec}/final_layer_norm/scale` | `{enc,dec}.final_layer_norm.weight` |

HF's `state_dict()` lists the tied embedding four times (`shared.weight`, `encoder.embed_tokens.weight`,
`decoder.embed_tokens.weight`, `lm_head.weight`); `params_to_hf_state_dict` emits all four (the same tensor)
so that `load_state_dict(..., strict=True)` succeeds, and `hf_state_dict_to_params` requires the aliases,
where present, to equal `shared.weight` (an untied v1.1 `lm_head` is not the v1.0 baseline, spec M12).
Both models keep the relative-position table only in block 0 of each stack (M20).

Configure the HF side with `hf_config_kwargs(config)`: `feed_forward_proj="relu"` and tied embeddings, so
HF scales the decoder output by d^-0.5 before the tied projection exactly as M12 does.

torch is imported lazily inside the functions: the package itself never needs torch or transformers
(they are test/bench extras).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from t5repro.models.config import T5Config

# HF lists this key as ignorable on load (an old export bug gave cross-attention a bias table); we skip it.
_HF_IGNORABLE_KEYS = frozenset({"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"})
_EMBED_KEY = "shared.weight"
_EMBED_ALIASES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight")

_ATTN = (("query", "q"), ("key", "k"), ("value", "v"), ("out", "o"))


def _mapping(config: T5Config) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    """Yield (our param path, HF key, transpose?) for every parameter except the shared embedding."""
    for stack, n_layers, is_dec in (("encoder", config.num_encoder_layers, False),
                                    ("decoder", config.num_decoder_layers, True)):
        for i in range(n_layers):
            ours = (stack, f"layers_{i}")
            hf = f"{stack}.block.{i}.layer"
            yield ours + ("pre_self_attention_layer_norm", "scale"), f"{hf}.0.layer_norm.weight", False
            for o, h in _ATTN:
                yield ours + ("self_attention", o, "kernel"), f"{hf}.0.SelfAttention.{h}.weight", True
            if i == 0:  # spec M20: one table per stack, owned by the first block
                yield (ours + ("self_attention", "relpos_bias", "rel_embedding"),
                       f"{hf}.0.SelfAttention.relative_attention_bias.weight", True)
            ff = 1
            if is_dec:
                yield ours + ("pre_cross_attention_layer_norm", "scale"), f"{hf}.1.layer_norm.weight", False
                for o, h in _ATTN:
                    yield ours + ("encoder_decoder_attention", o, "kernel"), f"{hf}.1.EncDecAttention.{h}.weight", True
                ff = 2
            yield ours + ("pre_mlp_layer_norm", "scale"), f"{hf}.{ff}.layer_norm.weight", False
            for w in ("wi", "wo"):
                yield ours + ("mlp", w, "kernel"), f"{hf}.{ff}.DenseReluDense.{w}.weight", True
        yield (stack, "final_layer_norm", "scale"), f"{stack}.final_layer_norm.weight", False


def _get(tree: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _set(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def hf_config_kwargs(config: T5Config) -> dict[str, Any]:
    """Keyword arguments for `transformers.T5Config` describing the same T5 v1.0 model, dropout off.

    Dropout is 0 because HF drops per position rather than broadcasting along length (M15), so training-mode
    outputs cannot match; use both models in eval / `deterministic=True` mode.
    """
    return dict(vocab_size=config.vocab_size, d_model=config.d_model, d_ff=config.d_ff, d_kv=config.d_kv,
                num_heads=config.num_heads, num_layers=config.num_encoder_layers,
                num_decoder_layers=config.num_decoder_layers,
                relative_attention_num_buckets=config.relative_attention_num_buckets,
                relative_attention_max_distance=config.relative_attention_max_distance,
                layer_norm_epsilon=config.layer_norm_epsilon, dropout_rate=0.0, feed_forward_proj="relu",
                tie_word_embeddings=True, is_encoder_decoder=True, pad_token_id=0, eos_token_id=1,
                decoder_start_token_id=0)


def params_to_hf_state_dict(params: Any, config: T5Config) -> dict[str, Any]:
    """Our (unboxed) parameter tree -> a float32 CPU state dict for HF `T5ForConditionalGeneration`.

    Kernels are transposed from `[in, out]` to PyTorch's `[out, in]`, the relative-position table from
    `[h, buckets]` to `[buckets, h]`. The embedding appears under `shared.weight` and its three aliases
    (one shared tensor), so `model.load_state_dict(sd, strict=True)` accepts the result.
    """
    import torch  # lazy: torch is a test/bench extra only

    def tensor(x: Any, transpose: bool) -> "torch.Tensor":
        a = np.asarray(x, dtype=np.float32)
        if transpose:
            a = a.T
        return torch.from_numpy(np.ascontiguousarray(a).copy())

    embedding = tensor(_get(params, ("token_embedder", "embedding")), False)
    expected = (config.vocab_size, config.d_model)
    if tuple(embedding.shape) != expected:
        raise ValueError(f"token_embedder/embedding has shape {tuple(embedding.shape)}, config says {expected}")
    sd: dict[str, Any] = {_EMBED_KEY: embedding}
    for alias in _EMBED_ALIASES:
        sd[alias] = embedding
    for path, key, transpose in _mapping(config):
        sd[key] = tensor(_get(params, path), transpose)
    return sd


def hf_state_dict_to_params(state_dict: dict[str, Any], config: T5Config) -> dict[str, Any]:
    """An HF T5 v1.0 state dict -> our parameter tree (nested dicts of float32 `jax.Array`s).

    Raises `KeyError` for missing keys, `ValueError` for unexpected keys, wrong shapes, or an embedding
    alias (`encoder/decoder.embed_tokens`, `lm_head`) that differs from `shared.weight` (untied, v1.1-style).
    The inverse of `params_to_hf_state_dict` (round trip is exact: only transposes and copies).
    """
    import jax.numpy as jnp
    import torch  # lazy: torch is a test/bench extra only

    def array(key: str) -> np.ndarray:
        t = state_dict[key]
        if isinstance(t, torch.Tensor):
            t = t.detach().to("cpu", torch.float32).numpy()
        return np.asarray(t, dtype=np.float32)

    mapping = list(_mapping(config))
    needed = {_EMBED_KEY} | {key for _, key, _ in mapping}
    missing = sorted(needed - set(state_dict))
    if missing:
        raise KeyError(f"HF state dict lacks {len(missing)} key(s): {', '.join(missing[:8])}")
    unexpected = sorted(set(state_dict) - needed - set(_EMBED_ALIASES) - _HF_IGNORABLE_KEYS)
    if unexpected:
        raise ValueError(f"HF state dict has unexpected key(s) for this config: {', '.join(unexpected[:8])}")

    embedding = array(_EMBED_KEY)
    if embedding.shape != (config.vocab_size, config.d_model):
        raise ValueError(f"shared.weight has shape {embedding.shape}, config says "
                         f"{(config.vocab_size, config.d_model)}")
    for alias in _EMBED_ALIASES:
        if alias in state_dict and not np.array_equal(array(alias), embedding):
            raise ValueError(f"{alias} differs from shared.weight: untied embeddings are not T5 v1.0 (spec M12)")

    d, h_all, f, nb = config.d_model, config.H, config.d_ff, config.relative_attention_num_buckets
    params: dict[str, Any] = {"token_embedder": {"embedding": jnp.asarray(embedding)}}
    for path, key, transpose in mapping:
        a = array(key)
        if transpose:
            a = a.T
        leaf = path[-2] if path[-1] == "kernel" else path[-1]
        want = {"scale": (d,), "rel_embedding": (config.num_heads, nb), "query": (d, h_all), "key": (d, h_all),
                "value": (d, h_all), "out": (h_all, d), "wi": (d, f), "wo": (f, d)}[leaf]
        if a.shape != want:
            raise ValueError(f"{key}: shape {a.shape} after conversion, expected {want}")
        _set(params, path, jnp.asarray(np.ascontiguousarray(a)))
    return params
