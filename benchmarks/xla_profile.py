"""Where a jitted step's time goes, per XLA fusion: a `jax.profiler` trace joined to the compiled HLO.

    from xla_profile import profile_step
    print(profile_step(lambda: step(state, batch), compiled_hlo_text, "/tmp/trace"))

Each executed HLO instruction (a fusion, dot, copy...) appears in the trace under its HLO name; the compiled
module text gives its `op_name` metadata (the JAX source op: e.g. `transpose(jvp(T5))/.../mlp/wi/dot_general`,
a gradient) and, for fusions, the ops inside. The report groups instructions by op_name with layer indices
folded (`layers_N`), so "the six encoder MLP weight gradients" is one row. This is how session 4 found the
XLA:CPU fusions that made the CPU step slow (benchmarks/README.md); on a GPU the same report shows kernels.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
from typing import Callable

_OPS = ("reduce", "dot", "transpose", "copy", "scatter", "gather", "select", "exponential", "convolution")


def _instructions(hlo: str) -> dict[str, tuple[str, str]]:
    """HLO name -> (kinds of the ops it runs, op_name metadata) for every instruction of the module."""
    bodies = {m.group(1): m.group(0) for m in re.finditer(r"\n(%[\w.\-]+) [^\n]*\{\n.*?\n\}\n", hlo, re.S)}
    out = {}
    for m in re.finditer(r"\n  (?:ROOT )?%([\w.\-]+) = \S+ ([\w\-]+)\(([^\n]*)", hlo):
        name, opcode, rest = m.groups()
        kinds = {opcode} if opcode in _OPS else set()
        called = re.search(r"calls=(%[\w.\-]+)", rest)
        if called and called.group(1) in bodies:
            kinds |= set(re.findall(r"= \S+ (" + "|".join(_OPS) + r")\(", bodies[called.group(1)]))
        meta = re.search(r'op_name="([^"]*)"', rest)
        out[name] = (",".join(sorted(kinds)) or opcode, meta.group(1) if meta else "")
    return out


def profile_step(step: Callable[[], None], hlo: str, trace_dir: str, top: int = 25) -> str:
    """Run `step` once under the profiler; return a table of time per (op kinds, source op) group."""
    import jax

    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    try:
        step()
    finally:
        jax.profiler.stop_trace()
    path = max(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True), key=os.path.getmtime)
    events = json.load(gzip.open(path))["traceEvents"]
    info = _instructions(hlo)
    groups: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") == "X" and e.get("name") in info:
            kinds, op_name = info[e["name"]]
            g = groups[(kinds, re.sub(r"layers_\d+", "layers_N", op_name))]
            g[0] += e["dur"] / 1e3
            g[1] += 1
    total = sum(g[0] for g in groups.values())
    lines = [f"{total:.1f} ms in {sum(g[1] for g in groups.values())} HLO instructions (trace: {path})",
             f"{'ms':>8} {'%':>5} {'n':>4}  {'ops':<22} source op (JAX op_name)"]
    for (kinds, op_name), (ms, n) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{ms:8.1f} {100 * ms / max(total, 1e-9):5.1f} {n:4d}  {kinds[:22]:<22} {op_name[-110:]}")
    return "\n".join(lines)
