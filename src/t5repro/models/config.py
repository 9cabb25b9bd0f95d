"""`T5Config`: the hyper-parameters of a T5 v1.0 encoder-decoder (spec model.md §1.1, M1)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

VOCAB_DIVISOR = 128  # spec M1 / D36: rows rounded up to a multiple of 128
ATTENTION_IMPLS = ("einsum", "xla", "cudnn")  # model.attention_impl: layers.attend's docstring (M87)


def round_up_vocab(n: int, divisor: int = VOCAB_DIVISOR) -> int:
    """Round a vocabulary size up to a multiple of `divisor` (spec M1: 32100 -> 32128)."""
    if n <= 0:
        raise ValueError(f"vocab size must be positive, got {n}")
    return -(-n // divisor) * divisor


@dataclasses.dataclass(frozen=True)
class T5Config:
    """Shapes, dropout and dtype of one T5 v1.0 model; size is configuration, not code (STYLE §2a)."""

    vocab_size: int
    d_model: int
    d_ff: int
    num_heads: int
    d_kv: int
    num_encoder_layers: int
    num_decoder_layers: int
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    dtype: str = "float32"  # activation dtype (M24); parameters are always float32
    zero_padding: bool = True  # spec M13 (SHOULD): zero the residual stream at padding positions
    adapter_dim: int | None = None  # §3.5.1 adapter width d_A (M55-M57); None = no adapter sub-layers
    shared_encoder_decoder: bool = False  # §3.2 "Enc-dec, shared" (M25): the encoder runs the decoder's blocks
    attention_impl: str = "einsum"  # M87: the XLA einsum reference; "cudnn" = fused flash attention (GPU)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "d_ff", "num_heads", "d_kv", "relative_attention_num_buckets",
                     "relative_attention_max_distance"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"T5Config.{name} must be positive, got {getattr(self, name)}")
        if self.relative_attention_num_buckets % 4:
            # spec M17: 2 directions x (exact half + log half) need num_buckets divisible by 4
            raise ValueError("relative_attention_num_buckets must be a multiple of 4 (M17)")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.adapter_dim is not None and int(self.adapter_dim) <= 0:
            raise ValueError(f"T5Config.adapter_dim must be positive or None, got {self.adapter_dim}")
        if self.shared_encoder_decoder and self.num_encoder_layers != self.num_decoder_layers:
            # spec M25: the encoder re-uses the decoder's blocks one for one
            raise ValueError("a shared encoder-decoder needs model.num_encoder_layers == model.num_decoder_layers, "
                             f"got {self.num_encoder_layers} and {self.num_decoder_layers} (M25)")
        jnp.dtype(self.dtype)  # raises on an unknown dtype name
        if self.attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"model.attention_impl must be one of {', '.join(ATTENTION_IMPLS)}, "
                             f"got {self.attention_impl!r}")
        if self.attention_impl == "cudnn" and jnp.dtype(self.dtype) not in (jnp.bfloat16, jnp.float16):
            raise ValueError(f"model.attention_impl=cudnn needs model.dtype bfloat16 or float16, got {self.dtype}")

    @property
    def H(self) -> int:  # noqa: N802 - the spec's symbol
        """Joined key/value width h * d_kv (spec M1: H != d for 3B and 11B)."""
        return self.num_heads * self.d_kv

    @property
    def activation_dtype(self) -> Any:
        """The jnp dtype of activations (M24)."""
        return jnp.dtype(self.dtype)

    @classmethod
    def from_cfg(cls, model_cfg: Any, vocab_size: int | None = None) -> "T5Config":
        """Build from the Hydra `model` group; a null `vocab_size` takes `vocab_size` rounded to 128 (M1, D36)."""
        get = model_cfg.get if hasattr(model_cfg, "get") else (lambda k, d=None: getattr(model_cfg, k, d))
        v = get("vocab_size", None)
        if v is None:
            if vocab_size is None:
                raise ValueError("model.vocab_size is null: pass the vocabulary's size (pieces + extra ids)")
            v = round_up_vocab(int(vocab_size))
        kwargs: dict[str, Any] = {"vocab_size": int(v)}
        for f in dataclasses.fields(cls):
            if f.name == "vocab_size":
                continue
            val = get(f.name, None)
            if val is not None:
                kwargs[f.name] = val
        for k in ("d_model", "d_ff", "num_heads", "d_kv", "num_encoder_layers", "num_decoder_layers",
                  "relative_attention_num_buckets", "relative_attention_max_distance", "adapter_dim"):
            if k in kwargs:
                kwargs[k] = int(kwargs[k])
        for k in ("dropout_rate", "layer_norm_epsilon"):
            if k in kwargs:
                kwargs[k] = float(kwargs[k])
        for k in ("dtype", "attention_impl"):
            if k in kwargs:
                kwargs[k] = str(kwargs[k])
        if "shared_encoder_decoder" in kwargs:
            kwargs["shared_encoder_decoder"] = bool(kwargs["shared_encoder_decoder"])
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.name not in kwargs]
        if missing:
            raise ValueError(f"model config lacks required key(s): {', '.join(missing)}")
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "T5Config":
        """A copy with some fields changed (e.g. `dropout_rate=0.0` for tests)."""
        return dataclasses.replace(self, **changes)
