"""Where an H100 train step's time must go, from XLA:GPU's own compiled program, without a GPU.

    pip install jax-cuda12-plugin==<jax version> jax-cuda12-pjrt==<jax version>   # 180 MB, no CUDA libraries
    python benchmarks/gpu_roofline.py --compile --out /tmp/roofline      # T5-Base bf16, 128 x 512/114, einsum
    python benchmarks/gpu_roofline.py A.txt [B.txt --layers 12]          # from dumped optimized HLO

`--compile` compiles the trainer's step for a compile-only H100 (`jax.experimental.topologies` with a
GPU target description, `H100_SXM` below) with 1 and with 2 encoder/decoder layers, and reads each
`*gpu_after_optimizations.txt` that XLA dumps once its HLO passes are done (the kernels, their fusions and
operands are fixed there; the LLVM/ptxas code generation that follows takes tens of minutes on two
cores and is not needed, so the compile is stopped). Without a GPU there is no autotuning, so XLA's Triton
GEMM fusions are switched off and every matmul is a cuBLAS call, as XLA falls back to when Triton loses.

For every kernel of the program (fusion or library call) it counts the bytes it reads and writes (its
operands and results) and, for matmuls, the FLOPs; a kernel's roofline time is max(bytes / bandwidth,
FLOPs / peak). A layer's cost is the 2-layer program minus the 1-layer one, so the L-layer total is
`one + (L - 1) * (two - one)` per category (the unrolled stacks repeat the same kernels). The result is a
lower bound on the step time of *this* compiled program, and its ratio to M30's FLOPs an upper bound on
its MFU: what no amount of kernel tuning gets past without changing the program (spec M89, M90).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import math
import os
import re
import subprocess
import sys
import time

from t5repro.train.throughput import device_peak_tflops

DEVICE = "NVIDIA H100 80GB HBM3"  # the SXM part, as jax.Device.device_kind names it
PEAK_FLOPS = device_peak_tflops(DEVICE) * 1e12  # dense bf16, the MFU denominator of every run (M90)
BANDWIDTH = 3.35e12  # H100 SXM HBM3 bytes/s
VOCAB = 32128  # spec M34

# An H100 SXM as a GpuTargetConfigProto (text format), for XLA's compile-only GPU topology. The numbers are
# the device's published properties (132 SMs, 50 MiB L2, 228 KiB shared memory per SM, 3.35 TB/s), in the
# fields of XLA's spec files (openxla/xla xla/backends/gpu/target_config/specs/h100_sxm.txtpb).
H100_SXM = """
gpu_device_info {
  threads_per_block_limit: 1024 threads_per_warp: 32 shared_memory_per_block: 49152
  shared_memory_per_core: 233472 threads_per_core_limit: 2048 core_count: 132 fpus_per_core: 128
  block_dim_limit_x: 2147483647 block_dim_limit_y: 65535 block_dim_limit_z: 65535
  memory_bandwidth: 3352320000000 l2_cache_size: 52428800 clock_rate_ghz: 1.98
  device_memory_size: 84942979072 shared_memory_per_block_optin: 232448
  cuda_compute_capability { major: 9 } registers_per_core_limit: 65536 registers_per_block_limit: 65536
}
platform_name: "CUDA"
dnn_version_info { major: 9 minor: 10 }
device_description_str: "NVIDIA H100 80GB HBM3"
"""

_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1, "bf16": 2, "f16": 2, "s16": 2, "u16": 2,
          "f32": 4, "s32": 4, "u32": 4, "f64": 8, "s64": 8, "u64": 8}
_NOT_KERNELS = {"parameter", "get-tuple-element", "tuple", "bitcast", "constant", "after-all", "opt-barrier",
                "partition-id", "replica-id"}


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One launched instruction of the optimized entry computation."""
    name: str
    kind: str  # fusion kind or custom-call target
    bytes: int  # operands read + results written (a cuBLAS workspace excluded)
    flops: int  # 2 x multiply-adds of a library matmul or fused attention; 0 otherwise
    op_name: str  # the JAX source op (metadata), layer indices folded to layers_N

    def seconds(self, peak: float = PEAK_FLOPS, bandwidth: float = BANDWIDTH) -> float:
        return max(self.bytes / bandwidth, self.flops / peak)


def shape_bytes(shape: str) -> int:
    """Bytes of an HLO shape such as `bf16[8,4]{1,0}` or a tuple of them."""
    total = 0
    for dtype, dims in re.findall(r"\b([a-z]+[0-9]*[a-z0-9]*)\[([\d,]*)\]", shape):
        if dtype in _BYTES:
            total += math.prod(int(d) for d in dims.split(",") if d) * _BYTES[dtype]
    return total


def _dims(shape: str) -> list[int]:
    m = re.match(r"\(?\s*[a-z0-9]+\[([\d,]*)\]", shape)
    return [int(d) for d in m.group(1).split(",") if d] if m else []


def kernels(hlo: str) -> list[Kernel]:
    """The kernels of an optimized HLO module's ENTRY computation (XLA:GPU's `after_optimizations` dump)."""
    start = re.search(r"^ENTRY ", hlo, re.M)
    if start is None:
        raise ValueError("no ENTRY computation: not an HLO module's text")
    entry = "\n" + hlo[start.start():hlo.index("\n}", start.start())]
    shapes: dict[str, str] = {}
    sources: dict[str, str] = {}  # instruction -> JAX op_name, its own or else its first operand's
    out = []
    for m in re.finditer(r"\n  (?:ROOT )?%([\w.\-]+) = (\([^=]*?\)|\S+) ([\w\-]+)\(([^\n]*)", entry):
        name, shape, opcode, rest = m.groups()
        shapes[name] = shape
        operands = re.findall(r"%([\w.\-]+)", rest.split(")", 1)[0])
        meta = re.search(r'op_name="([^"]*)"', rest)
        # XLA drops the metadata of some library calls it rewrites; their operands still say what they are.
        sources[name] = meta.group(1) if meta else next((sources[o] for o in operands if sources.get(o)), "")
        if opcode in _NOT_KERNELS:
            continue
        target = re.search(r'custom_call_target="([^"]*)"', rest)
        kind = re.search(r"kind=(k\w+)", rest)
        label = target.group(1) if target else opcode + (f"/{kind.group(1)}" if kind else "")
        is_gemm = target is not None and ("gemm" in label or "matmul" in label)
        result = re.sub(r",?\s*s8\[\d+\]\{0\}", "", shape) if is_gemm else shape  # drop cuBLAS's workspace
        nbytes = shape_bytes(result) + sum(shape_bytes(shapes.get(o, "")) for o in operands)
        flops = 0
        if label.startswith("__cudnn$fmha"):
            # cuDNN flash attention, q [B, Lq, h, dk] and k [B, Lk, h, dk]: the forward runs QK^T and PV
            # (4 B h Lq Lk dk); the backward recomputes QK^T and runs four more (10 B h Lq Lk dk).
            q, k = _dims(shapes[operands[0]]), _dims(shapes[operands[1]])
            flops = (10 if "Backward" in label else 4) * math.prod(q) * k[1]
        elif is_gemm:
            contracting = re.search(r'"lhs_contracting_dimensions":\[([^\]]*)\]', rest)
            lhs = _dims(shapes[operands[0]])
            k = math.prod(lhs[int(i)] for i in re.findall(r"\d+", contracting.group(1))) if contracting else 0
            flops = 2 * math.prod(_dims(result)) * k
        out.append(Kernel(name, label, nbytes, flops, re.sub(r"layers_\d+", "layers_N", sources[name])))
    return out


def category(k: Kernel) -> str:
    """A coarse label: which part of the model (or the optimizer) a kernel belongs to, matmul or not."""
    op = k.op_name
    part = ("self-attention" if "self_attention" in op else "cross-attention" if "encoder_decoder_attention" in op
            else "MLP" if "/mlp/" in op else "layer norm" if "layer_norm" in op
            else "embedding" if "token_embedder" in op
            else "loss + output layer" if ("T5.decode/mul" in op or "jvp()" in op or "take_along_axis" in op)
            else "dropout + residual" if "T5" in op
            else "optimizer + other")
    return f"{part}, {'matmul' if k.flops else 'memory'}"


def by_category(ks: list[Kernel]) -> dict[str, list[float]]:
    """category -> [roofline seconds, bytes, FLOPs, kernels]."""
    out: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for k in ks:
        row = out[category(k)]
        row[0] += k.seconds()
        row[1] += k.bytes
        row[2] += k.flops
        row[3] += 1
    return out


def extrapolate(one: dict[str, list[float]], two: dict[str, list[float]], layers: int) -> dict[str, list[float]]:
    """`one + (layers - 1) * (two - one)` per category and column: the L-layer program from 1 and 2 layers."""
    return {c: [a + (layers - 1) * (b - a) for a, b in zip(one.get(c, [0.0] * 4), two.get(c, [0.0] * 4))]
            for c in set(one) | set(two)}


def report(rows: dict[str, list[float]], model_flops: float | None = None) -> str:
    total_s = sum(r[0] for r in rows.values())
    lines = [f"{'roofline ms':>11} {'%':>5} {'GB':>8} {'TFLOP':>7} {'kernels':>7}  category"]
    for c, (s, b, f, n) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"{1e3 * s:11.1f} {100 * s / total_s:5.1f} {b / 1e9:8.1f} {f / 1e12:7.2f} {n:7.0f}  {c}")
    lines.append(f"{1e3 * total_s:11.1f} ms step at {PEAK_FLOPS / 1e12:.0f} TFLOP/s and {BANDWIDTH / 1e12:.2f} TB/s "
                 f"({sum(r[1] for r in rows.values()) / 1e9:.1f} GB moved, "
                 f"{sum(r[2] for r in rows.values()) / 1e12:.2f} TFLOP of matmuls)")
    if model_flops:
        lines.append(f"MFU upper bound for this program: {100 * model_flops / PEAK_FLOPS / total_s:.1f} % "
                     f"(M30's {model_flops / 1e12:.2f} TFLOP per step)")
    return "\n".join(lines)


def compile_dump(layers: int, out: str, attention: str, batch: int, inputs: int, targets: int,
                 timeout_s: float = 1800) -> str:
    """Compile the step for a compile-only H100 in a child process and return its optimized-HLO dump."""
    dump = os.path.join(out, f"dump_{attention}_{layers}")
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=(
        "--xla_gpu_enable_triton_gemm=false --xla_gpu_autotune_level=0 --xla_dump_hlo_as_text "
        f"--xla_dump_hlo_module_re=train_step --xla_dump_to={dump}"))
    args = [sys.executable, __file__, "--child", str(layers), "--attention", attention, "--batch", str(batch),
            "--inputs", str(inputs), "--targets", str(targets)]
    log = open(dump + ".log", "w")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + timeout_s
    try:
        while time.time() < deadline:
            # XLA writes the buffer assignment after the module: once it exists, the module file is whole.
            done = glob.glob(os.path.join(dump, "*gpu_after_optimizations-buffer-assignment.txt"))
            if done:
                return done[0].replace("-buffer-assignment.txt", ".txt")
            if proc.poll() is not None:
                raise RuntimeError(f"compile-only child failed (exit {proc.returncode}); see {dump}.log")
            time.sleep(2)
        raise TimeoutError(f"no optimized HLO in {dump} after {timeout_s:.0f} s")
    finally:
        proc.kill()
        proc.wait()
        log.close()


def _child(layers: int, attention: str, b: int, s_in: int, s_t: int) -> None:
    """Lower and compile the trainer's step for a compile-only H100 (the parent stops it after the dump)."""
    import jax
    from jax.experimental import topologies

    sys.path.insert(0, os.path.dirname(__file__))
    from train_step import abstract_step, make_config

    from t5repro.train.partitioning import Partitioner

    # The step is built for the compile-only GPU while JAX's own backend is the CPU: what the model and the
    # trainer ask of jax.default_backend() (cuDNN attention's check, buffer donation) must see the GPU.
    jax.default_backend = lambda: "gpu"
    device = topologies.get_topology_desc("h100", "cuda", target_config=H100_SXM, topology="1x1x1").devices[0]
    cfg = make_config("base", "bfloat16", VOCAB, attention).replace(num_encoder_layers=layers,
                                                                      num_decoder_layers=layers)
    step, args = abstract_step(cfg, b, s_in, s_t, Partitioner.create(None, devices=[device]))
    step.lower(*args).compile()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("hlo", nargs="*", help="optimized HLO of the 1-layer (and 2-layer) program")
    p.add_argument("--compile", action="store_true",
                   help="make both with a compile-only H100 (needs jax-cuda12-plugin)")
    p.add_argument("--out", default="/tmp/t5repro-roofline")
    p.add_argument("--layers", type=int, default=12, help="layers per stack to extrapolate to (T5-Base: 12)")
    p.add_argument("--attention", default="einsum")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--inputs", type=int, default=512)
    p.add_argument("--targets", type=int, default=114)
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        _child(a.child, a.attention, a.batch, a.inputs, a.targets)
        return 0
    paths = a.hlo
    if a.compile:
        os.makedirs(a.out, exist_ok=True)
        paths = [compile_dump(n, a.out, a.attention, a.batch, a.inputs, a.targets) for n in (1, 2)]
    if not paths:
        p.error("give optimized HLO files or --compile")
    rows = [by_category(kernels(open(path).read())) for path in paths]
    if len(rows) == 2:
        sys.path.insert(0, os.path.dirname(__file__))
        from train_step import make_config

        from t5repro.models.info import flops_per_example

        cfg = make_config("base", "bfloat16", VOCAB).replace(num_encoder_layers=a.layers,
                                                             num_decoder_layers=a.layers)
        model_flops = a.batch * flops_per_example(cfg, a.inputs, a.targets)["training"]  # spec M30
        print(f"T5-Base bf16, batch {a.batch} x {a.inputs}/{a.targets}, attention {a.attention}, "
              f"{a.layers}+{a.layers} layers from {paths[0]} and {paths[1]}:")
        print(report(extrapolate(rows[0], rows[1], a.layers), model_flops))
    else:
        print(report(rows[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
