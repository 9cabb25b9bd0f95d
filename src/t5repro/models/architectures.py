"""The five architectures of §3.2 / Table 2 by name (`conf/arch/*.yaml`, key `arch.name`; spec M25-M28).

| `arch.name`              | Table 2 row        | module                     | seqio converter              |
|--------------------------|--------------------|----------------------------|------------------------------|
| `encoder_decoder`        | Encoder-decoder    | `T5`                       | EncDecFeatureConverter       |
| `encoder_decoder_shared` | Enc-dec, shared    | `T5`, shared stack (M25)   | EncDecFeatureConverter       |
| `encoder_decoder_half`   | Enc-dec, 6 layers  | `T5`, L/2 + L/2 (M26)      | EncDecFeatureConverter       |
| `decoder_only_lm`        | Language model     | `DecoderOnly` (M27)        | DecoderFeatureConverter      |
| `prefix_lm`              | Prefix LM          | `DecoderOnly`, prefix (M28)| DecoderFeatureConverter      |

Every row is built from the `model` group's sizes, so each has a smoke configuration (M91). "6 layers" is
an architecture rather than a model size: it halves the model's stacks (12+12 -> 6+6 at Base, 2+2 -> 1+1 at
smoke), so `arch=encoder_decoder_half` means the same thing at every scale. The LM uses
`model.num_decoder_layers` blocks (the 12-layer LM of the 12+12 baseline).

Converters (seqio's own, looked up when asked for so that importing the models does not import TF; the
same choice as `t5repro.data.feature_converter`): `DecoderFeatureConverter` is seqio's
`PrefixLMFeatureConverter` for a Task with inputs (one sequence `[inputs…, EOS, targets…, EOS]`) and its
`LMFeatureConverter` for a targets-only Task. The LM takes it with `loss_on_targets_only=False` (loss on
every position, M27) and ignores its `decoder_causal_attention`; the prefix LM with
`loss_on_targets_only=True` (M28; spec Q1 default, `arch.loss_on_targets_only` in conf/arch/prefix_lm.yaml).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from flax import linen as nn

from t5repro.config import ConfigError
from t5repro.models import decoder_only, t5
from t5repro.models.config import T5Config


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One Table 2 row: its paper name, how its model is built, and the seqio features it consumes."""

    name: str
    table2_name: str
    decoder_only: bool
    feature_converter: str               # the seqio class name
    converter_kwargs: tuple[tuple[str, Any], ...]
    input_keys: tuple[str, ...]          # model-input keys of that converter that the model's __call__ takes
    spec: str


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (
    Architecture("encoder_decoder", "Encoder-decoder", False, "EncDecFeatureConverter", (), t5.INPUT_KEYS,
                 "M3-M24"),
    Architecture("encoder_decoder_shared", "Enc-dec, shared", False, "EncDecFeatureConverter", (), t5.INPUT_KEYS,
                 "M25"),
    Architecture("encoder_decoder_half", "Enc-dec, 6 layers", False, "EncDecFeatureConverter", (), t5.INPUT_KEYS,
                 "M26"),
    Architecture("decoder_only_lm", "Language model", True, "DecoderFeatureConverter",
                 (("loss_on_targets_only", False),), decoder_only.INPUT_KEYS, "M27"),
    Architecture("prefix_lm", "Prefix LM", True, "DecoderFeatureConverter",
                 (("loss_on_targets_only", True),), decoder_only.INPUT_KEYS, "M28"),
)}


def get_architecture(name: str) -> Architecture:
    """The architecture called `name`; an unknown name is a ConfigError naming `arch.name`."""
    try:
        return ARCHITECTURES[str(name)]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(ARCHITECTURES), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown arch.name {name!r}: expected one of {', '.join(ARCHITECTURES)}{hint}") from None


def model_config(name: str, config: T5Config) -> T5Config:
    """The config the architecture builds from the `model` group's `config` (M25, M26; LM: no encoder)."""
    arch = get_architecture(name)
    if arch.name == "encoder_decoder_shared":
        return config.replace(shared_encoder_decoder=True)
    if config.shared_encoder_decoder:
        raise ConfigError(f"model.shared_encoder_decoder is set but arch.name is {arch.name!r}: "
                          "use arch.name=encoder_decoder_shared")
    if arch.name == "encoder_decoder_half":
        for key in ("num_encoder_layers", "num_decoder_layers"):
            n = getattr(config, key)
            if n < 2 or n % 2:
                raise ConfigError(f"arch.name=encoder_decoder_half halves model.{key}, which must be even "
                                  f"and >= 2, got {n} (M26)")
        return config.replace(num_encoder_layers=config.num_encoder_layers // 2,
                              num_decoder_layers=config.num_decoder_layers // 2)
    if arch.decoder_only:
        return config.replace(num_encoder_layers=0)
    return config


def build_model(arch_name: str, config: T5Config) -> nn.Module:
    """The Flax module of Table 2 row `arch_name`, sized by the `model` group's `config`."""
    arch = get_architecture(arch_name)
    cfg = model_config(arch.name, config)
    if arch.decoder_only:
        return decoder_only.DecoderOnly(cfg, prefix_lm=(arch.name == "prefix_lm"))
    return t5.T5(cfg)


def init_params(model: nn.Module, rng: Any, *, unbox: bool = True) -> Any:
    """Float32 parameters of any architecture's module from length-1 dummy inputs."""
    if isinstance(model, decoder_only.DecoderOnly):
        return decoder_only.init_params(model, rng, unbox=unbox)
    return t5.init_params(model, rng, unbox=unbox)


def feature_converter(name: str, *, pack: bool = True, **overrides: Any) -> Any:
    """A seqio feature converter producing the architecture's model features (imports seqio here).

    `overrides` replace the registry's keyword arguments (e.g. `loss_on_targets_only`, spec Q1).
    """
    import seqio  # TensorFlow comes with it: only imported when a data pipeline is built

    arch = get_architecture(name)
    return getattr(seqio, arch.feature_converter)(pack=pack, **{**dict(arch.converter_kwargs), **overrides})
