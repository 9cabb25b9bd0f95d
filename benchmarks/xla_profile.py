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


def _sanitised(name: str) -> str:
    """XLA:GPU names a fusion's kernel after the instruction with '.' and '-' as '_' (fusion.12 -> fusion_12)."""
    return re.sub(r"[.\-]", "_", name)


def summarise(events: list[dict], info: dict[str, tuple[str, str]]) -> dict[tuple[str, str], list[float]]:
    """(op kinds, op_name with layers folded) -> [ms, count] over the trace's complete events of HLO instructions.

    On CPU, XLA's thunks appear on the host under their HLO names. On a GPU or TPU the device's own
    timeline is used (processes named `/device:...`), its kernels matched by the `hlo_op` argument the
    profiler attaches, or else by kernel name; host-side launch events are then ignored, not double counted.
    """
    device_pids = {e.get("pid") for e in events if e.get("ph") == "M" and e.get("name") == "process_name"
                   and "/device:" in str(e.get("args", {}).get("name", ""))}
    by_sanitised = {_sanitised(name): name for name in info}
    groups: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") != "X" or (device_pids and e.get("pid") not in device_pids):
            continue
        candidates = (e.get("args", {}).get("hlo_op"), e.get("name"))
        hlo = next((c for c in candidates if c in info), None)
        if hlo is None:
            hlo = next((by_sanitised[_sanitised(c)] for c in candidates
                        if isinstance(c, str) and _sanitised(c) in by_sanitised), None)
        if hlo is None:
            continue
        kinds, op_name = info[hlo]
        g = groups[(kinds, re.sub(r"layers_\d+", "layers_N", op_name))]
        g[0] += e["dur"] / 1e3
        g[1] += 1
    return groups


def profile_step(step: Callable[[], None], hlo: str, trace_dir: str, top: int = 25) -> str:
    """Run `step` once under the profiler; return a table of time per (op kinds, source op) group."""
    import jax

    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    try:
        step()
    finally:
        jax.profiler.stop_trace()
    path = max(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True), key=os.path.getmtime)
    groups = summarise(json.load(gzip.open(path))["traceEvents"], _instructions(hlo))
    total = sum(g[0] for g in groups.values())
    lines = [f"{total:.1f} ms in {sum(g[1] for g in groups.values())} HLO instructions (trace: {path})",
             f"{'ms':>8} {'%':>5} {'n':>4}  {'ops':<22} source op (JAX op_name)"]
    for (kinds, op_name), (ms, n) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{ms:8.1f} {100 * ms / max(total, 1e-9):5.1f} {n:4d}  {kinds[:22]:<22} {op_name[-110:]}")
    return "\n".join(lines)
