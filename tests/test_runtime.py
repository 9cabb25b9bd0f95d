"""Tests of t5repro.runtime: the XLA flags t5repro adds to its process, and when it leaves XLA_FLAGS alone."""

from __future__ import annotations

import os
import subprocess
import sys

from t5repro import runtime

FLAG = runtime.CPU_FLAGS[0]
NAME = FLAG.split("=", 1)[0]


def test_flags_are_appended_to_the_users_flags() -> None:
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    assert runtime.configure_xla(env, jaxlib_version="0.10.2") == [FLAG]
    assert env["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=8 {FLAG}"
    assert runtime.configure_xla(env, jaxlib_version="0.10.2") == []  # idempotent
    assert env["XLA_FLAGS"].count(NAME) == 1


def test_a_flag_the_user_set_is_kept() -> None:
    env = {"XLA_FLAGS": f"{NAME}=-dot"}
    assert runtime.configure_xla(env, jaxlib_version="0.10.2") == []
    assert env["XLA_FLAGS"] == f"{NAME}=-dot"


def test_opt_out_and_untested_jaxlib_add_nothing() -> None:
    env = {runtime.OPT_OUT: "0"}
    assert runtime.configure_xla(env, jaxlib_version="0.10.2") == [] and "XLA_FLAGS" not in env
    env = {}
    assert runtime.configure_xla(env, jaxlib_version="0.12.0") == [] and "XLA_FLAGS" not in env  # XLA aborts on unknown flags
    assert runtime.configure_xla(env, jaxlib_version="") == []


def test_importing_t5repro_sets_the_flag_before_jax_starts() -> None:
    """In a fresh interpreter: the flag is in XLA_FLAGS, XLA accepts it (no abort) and a computation runs."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", runtime.OPT_OUT)}
    code = ("import os, t5repro, jax, jax.numpy as jnp; "
            "print(os.environ.get('XLA_FLAGS', '')); print(float(jnp.exp(jnp.ones(3)).sum()))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    flags, total = out.stdout.strip().splitlines()[-2:]
    assert (FLAG in flags) == runtime._jaxlib_version().startswith(runtime.TESTED_JAXLIB)
    assert abs(float(total) - 3 * 2.718281828) < 1e-5
