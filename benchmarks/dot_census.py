"""Matmul FLOPs of one train step grouped by operand and result dtypes, read from its jaxpr (no device needed).

    python benchmarks/dot_census.py                       # T5-Base, bf16, 128 x 512/114 (the MFU shape)
    python benchmarks/dot_census.py --model small --dtype float32 --batch 4

On a GPU only bf16 x bf16 products run at the tensor cores' full rate; float32 operands run as TF32 (half)
or float32, and a mixed float32 x bf16 product is computed in float32. The census says which matmuls of the
step are not bf16 and what share of the step's FLOPs they are, before any GPU time is spent (spec M24, M89).
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
from typing import Any

import jax

from t5repro.models.config import ATTENTION_IMPLS
from train_step import SIZES, abstract_step, make_config


def dot_flops(closed_jaxpr: Any) -> collections.Counter:
    """(lhs dtype, rhs dtype, out dtype[, dot algorithm]) -> FLOPs (2 per multiply-add) of every dot_general,
    sub-jaxprs included. A dot algorithm such as BF16_BF16_F32 names the operand type the product really uses."""
    census: collections.Counter = collections.Counter()

    def walk(jaxpr: Any) -> None:
        for eqn in jaxpr.eqns:
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)
            if eqn.primitive.name == "dot_general":
                lhs, rhs, out = eqn.invars[0].aval, eqn.invars[1].aval, eqn.outvars[0].aval
                (lhs_contract, _), _ = eqn.params["dimension_numbers"]
                k = math.prod(lhs.shape[i] for i in lhs_contract)
                algorithm = eqn.params.get("precision")
                operands = (str(lhs.dtype), str(rhs.dtype), str(out.dtype))
                if isinstance(algorithm, jax.lax.DotAlgorithmPreset):  # the operands' dtype inside the product
                    operands += (algorithm.name,)
                census[operands] += 2 * math.prod(out.shape) * k

    walk(closed_jaxpr.jaxpr)
    return census


def train_step_jaxpr(model_name: str, dtype: str, b: int, s_in: int, s_t: int, vocab: int,
                     attention: str = "einsum", adapter_dim: int | None = None) -> Any:
    """The jaxpr of the trainer's step for this shape (with §3.5.1 adapters of width `adapter_dim` if given),
    built from abstract values (nothing allocated)."""
    step, args = abstract_step(make_config(model_name, dtype, vocab, attention).replace(adapter_dim=adapter_dim),
                               b, s_in, s_t)
    return jax.make_jaxpr(step)(*args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(SIZES), default="base")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="bfloat16")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--inputs", type=int, default=512)
    p.add_argument("--targets", type=int, default=114)
    p.add_argument("--vocab", type=int, default=32128)
    p.add_argument("--attention", choices=list(ATTENTION_IMPLS), default="einsum")
    a = p.parse_args(argv)
    census = dot_flops(train_step_jaxpr(a.model, a.dtype, a.batch, a.inputs, a.targets, a.vocab, a.attention))
    total = sum(census.values())
    print(f"{a.model} {a.dtype}, batch {a.batch} x {a.inputs}/{a.targets}, attention {a.attention}: "
          f"{total / 1e12:.2f} TFLOP of matmuls per step")
    for (lhs, rhs, out, *algorithm), flops in census.most_common():
        how = f" as {algorithm[0]}" if algorithm else ""
        print(f"{flops / 1e12:9.3f} TFLOP {100 * flops / total:5.1f} %  {lhs} x {rhs} -> {out}{how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
