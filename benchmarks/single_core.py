"""What the per-core benchmarks share: a worker subprocess with one thread everywhere, pinned to one CPU.

`c4_throughput.py` and `input_pipeline.py` run each side in `run_worker(...)`, whose environment turns off the
libraries' own thread pools, and the worker calls `pin_to_one_cpu()` first: "per core" figures, with no
hidden parallelism on either side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0",
}


def pin_to_one_cpu() -> None:
    """Restrict this process to its lowest-numbered allowed CPU (where the OS allows it)."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


def run_worker(script: str | Path, argv: list[str], label: str) -> dict:
    """Run `python script *argv` single-threaded with the repository importable; its last stdout line is JSON."""
    env = {**os.environ, **SINGLE_THREAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, str(Path(script).resolve()), *argv], env=env, capture_output=True,
                          text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{label} worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
