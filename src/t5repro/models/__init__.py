"""T5 v1.0 encoder-decoder in Flax linen (spec model.md §1), its loss, decoding and size accounting."""

from t5repro.models.config import T5Config, round_up_vocab
from t5repro.models.info import eval_shape_param_count, flops_per_example, param_count
from t5repro.models.t5 import T5, init_params, param_logical_axes

__all__ = [
    "T5",
    "T5Config",
    "eval_shape_param_count",
    "flops_per_example",
    "init_params",
    "param_count",
    "param_logical_axes",
    "round_up_vocab",
]
