"""T5 v1.0 in Flax linen (spec model.md §1), the §3.2 architectures of Table 2, loss, decoding and size accounting."""

from t5repro.models.architectures import ARCHITECTURES, build_model, get_architecture
from t5repro.models.config import T5Config, round_up_vocab
from t5repro.models.decoder_only import DecoderOnly
from t5repro.models.info import eval_shape_param_count, flops_per_example, param_count
from t5repro.models.t5 import T5, init_params, param_logical_axes

__all__ = [
    "ARCHITECTURES",
    "DecoderOnly",
    "T5",
    "T5Config",
    "build_model",
    "eval_shape_param_count",
    "flops_per_example",
    "get_architecture",
    "init_params",
    "param_count",
    "param_logical_axes",
    "round_up_vocab",
]
