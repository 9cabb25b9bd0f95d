"""One training loop for pre-training and fine-tuning (paper §3.1.2; spec model.md §3, M34-M54, M82-M86).

`train()` is handed everything it uses (t5x's `train.train`, flax examples' `train_and_evaluate`): a Flax
module, a `TrainConfig`, an iterator of batches and a workdir. The workdir is the resume key: calling
`train()` again with the same workdir continues from its latest complete checkpoint (flax examples).

Workdir layout (docs/architecture.md):
    checkpoints/<step>/   orbax: TrainState + meta (checkpoint.py)
    metrics.csv           step,loss,ce,z_loss,accuracy,learning_rate,tokens_per_s,elapsed_s
    tensorboard/          the same rows as TensorBoard scalars `train/<column>` (summaries.py)
    summary.json          written last, atomically: its presence means the phase finished
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io as _io
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from t5repro import io as io_lib
from t5repro.config import ConfigError
from t5repro import log as log_lib
from t5repro.train import summaries, throughput
from t5repro.train.checkpoint import Checkpointer
from t5repro.train.optim import make_optimizer
from t5repro.train.partitioning import Partitioner, PartitioningConfig, enable_partitionable_rng
from t5repro.train.schedules import make_schedule
from t5repro.train.state import TrainState, param_count

log = logging.getLogger(__name__)

METRICS_COLUMNS = ("step", "loss", "ce", "z_loss", "accuracy", "learning_rate", "tokens_per_s", "elapsed_s")
MODEL_INPUT_KEYS = ("encoder_input_tokens", "decoder_input_tokens", "encoder_segment_ids", "decoder_segment_ids",
                    "encoder_positions", "decoder_positions")
SIGTERM_EXIT_CODE = 128 + signal.SIGTERM  # 143, what a shell reports for a process ended by SIGTERM


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One phase's recipe (conf/train/*.yaml): steps, batch, schedule, loss and checkpoint cadence."""

    steps: int
    batch_size: int
    sequence_length: Mapping[str, int] = dataclasses.field(default_factory=dict)
    pack: bool = True
    schedule: str = "rsqrt"                       # M46 | "constant" M48
    learning_rate: float = 0.01                   # constant schedule only
    warmup_steps: int = 10_000                    # k of M46
    z_loss: float = 1e-4                          # M36
    loss_normalizing_factor: float | None = None  # None: B x S_t of the step (M37)
    checkpoint_period: int = 5000                 # M52
    keep_checkpoints: int | None = None           # None: keep all (M86)
    log_every: int = 100

    @classmethod
    def from_cfg(cls, cfg: Any, phase: str | None = None) -> "TrainConfig":
        """Build from the Hydra `pretrain`/`finetune` node (or any mapping); unknown keys and out-of-range
        values are errors naming `<phase>.<key>` (the phase defaults to the node's own key)."""
        if isinstance(cfg, cls):
            return cfg
        if phase is None:
            key = getattr(cfg, "_key", None)
            phase = str(key()) if callable(key) and key() is not None else "train"
        items = dict(cfg.items()) if hasattr(cfg, "items") else dict(vars(cfg))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(items) - names)
        if unknown:
            raise ConfigError(f"unknown training config key(s): {', '.join(f'{phase}.{k}' for k in unknown)}")
        if "sequence_length" in items and items["sequence_length"] is not None:
            items["sequence_length"] = {str(k): int(v) for k, v in dict(items["sequence_length"]).items()}
        for k in ("steps", "batch_size", "warmup_steps", "checkpoint_period", "log_every"):
            if k in items:
                items[k] = int(items[k])
        for k in ("learning_rate", "z_loss"):
            if k in items:
                items[k] = float(items[k])
        for k in ("loss_normalizing_factor", "keep_checkpoints"):
            if items.get(k) is not None:
                items[k] = (float if k == "loss_normalizing_factor" else int)(items[k])
        lower = {"steps": 0, "batch_size": 1, "warmup_steps": 0, "checkpoint_period": 1, "log_every": 1,
                 "keep_checkpoints": 1}
        for k, low in lower.items():
            if items.get(k) is not None and items[k] < low:
                raise ConfigError(f"{phase}.{k} must be >= {low}, got {items[k]}")
        if "schedule" in items and items["schedule"] not in ("rsqrt", "constant"):
            raise ConfigError(f"{phase}.schedule must be rsqrt (M46) or constant (M48), got {items['schedule']!r}")
        if items.get("learning_rate") is not None and not items["learning_rate"] > 0:
            raise ConfigError(f"{phase}.learning_rate must be > 0, got {items['learning_rate']}")
        return cls(**items)


class TrainingInterrupted(SystemExit):
    """Raised after SIGTERM once a checkpoint is saved; exits with 143 so schedulers retry the job."""


def init_model_params(model: nn.Module, rng: jax.Array) -> Any:
    """Initialise float32 parameters from length-1 dummy inputs (T5 parameters do not depend on length)."""
    return nn.unbox(_jitted_init(model)(rng)["params"])


@functools.lru_cache(maxsize=8)
def _jitted_init(model: nn.Module):
    # NumPy, not jnp: the first call may happen inside a trace (jax.eval_shape of a fresh state), and a
    # jnp array created there would be a tracer captured by this cached function (UnexpectedTracerError).
    tokens = np.ones((1, 1), np.int32)
    return jax.jit(lambda r: model.init({"params": r, "dropout": r}, tokens, tokens, deterministic=True))


def place(tree: Any, shardings: Any | None = None) -> Any:
    """Commit a state to its shardings (default: the first device), as restored checkpoints are (spec M82).

    Fresh and restored states then have identical jit cache keys, so resuming does not recompile.
    """
    if shardings is None:
        shardings = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.device_put(tree, shardings)


@dataclasses.dataclass(frozen=True)
class StateLayout:
    """Where a `TrainState` lives on the mesh: its abstract shape and NamedShardings (spec M79-M82)."""

    abstract: TrainState   # ShapeDtypeStructs (float32 params and statistics, M24/M43)
    shardings: TrainState  # NamedShardings: params by M79, Adafactor statistics by M82


def state_layout(model: nn.Module, tcfg: TrainConfig, partitioner: Partitioner) -> StateLayout:
    """Shapes and shardings of the training state of `model`, checked for divisibility (M81, M82)."""
    return _cached_layout(model, _recipe(tcfg), partitioner)


def _recipe(tcfg: TrainConfig) -> tuple:
    """The hashable part of a recipe that shapes the compiled step: schedule and loss settings."""
    return (tcfg.schedule, tcfg.learning_rate, tcfg.warmup_steps, tcfg.z_loss, tcfg.loss_normalizing_factor)


def _recipe_optimizer(recipe: tuple, mask: Any | None = None) -> optax.GradientTransformation:
    schedule_name, learning_rate, warmup_steps = recipe[:3]
    return make_optimizer(make_schedule({"schedule": schedule_name, "learning_rate": learning_rate,
                                         "warmup_steps": warmup_steps}), mask)


@functools.lru_cache(maxsize=8)
def _cached_layout(model: nn.Module, recipe: tuple, partitioner: Partitioner) -> StateLayout:
    tx = _recipe_optimizer(recipe)  # masking keeps the state structure (optim.py)
    boxed = jax.eval_shape(_jitted_init(model), jax.random.PRNGKey(0))["params"]
    logical = nn.get_partition_spec(boxed)  # spec M79: names attached by the model
    params = nn.unbox(boxed)
    partitioner.check_divisible(params, logical)  # spec M81, before anything is allocated
    abstract = jax.eval_shape(lambda p: TrainState.create(p, tx.init(p)), params)
    return StateLayout(abstract, partitioner.state_shardings(abstract, logical))


@functools.lru_cache(maxsize=8)
def _sharded_init(model: nn.Module, recipe: tuple, partitioner: Partitioner):
    """jit'd `rng -> TrainState` whose outputs are created sharded on the mesh (spec M82)."""
    tx = _recipe_optimizer(recipe)
    init = _jitted_init(model)

    def fresh(rng: jax.Array) -> TrainState:
        params = nn.unbox(init(rng)["params"])
        return TrainState.create(params, tx.init(params))

    layout = _cached_layout(model, recipe, partitioner)
    return jax.jit(fresh, in_shardings=partitioner.replicated, out_shardings=layout.shardings)


def make_train_step(model: nn.Module, tcfg: TrainConfig, trainable_mask: Any | None = None,
                    partitioner: Partitioner | None = None):
    """The jit'd update `(state, batch, dropout_root, start_step) -> (state, metrics)` (M34-M39, M82, M83).

    Forward with dropout, CE + z-loss over a constant denominator, Adafactor update, compiled with explicit
    in/out shardings on `partitioner`'s mesh (default: all devices, data parallel). Cached per (model,
    recipe, mask, mesh), so several `train()` calls in one process (resume, tests) compile once.
    """
    partitioner = Partitioner.create(partitioner)
    mask_key = None
    if trainable_mask is not None:
        leaves, treedef = jax.tree.flatten(trainable_mask)
        mask_key = (treedef, tuple(bool(x) for x in leaves))
    recipe = _recipe(tcfg)
    return _cached_train_step(model, recipe, mask_key, partitioner)


@functools.lru_cache(maxsize=8)
def _cached_train_step(model: nn.Module, recipe: tuple, mask_key: tuple | None, partitioner: Partitioner):
    from t5repro.models.losses import cross_entropy_loss  # the Model contract (M34-M38)

    schedule_name, learning_rate, warmup_steps, z_loss, loss_normalizing_factor = recipe
    mask = None if mask_key is None else jax.tree.unflatten(mask_key[0], mask_key[1])
    tx = make_optimizer(make_schedule({"schedule": schedule_name, "learning_rate": learning_rate,
                                       "warmup_steps": warmup_steps}), mask)

    def train_step(state: TrainState, batch: dict[str, jax.Array], dropout_root: jax.Array,
                   start_step: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
        # spec M83: per-step dropout RNG = the run seed folded with the *global* step.
        rng = jax.random.fold_in(dropout_root, start_step + state.step)
        # The model declares the feature-converter keys it takes (T5 / DecoderOnly.INPUT_KEYS, §3.2).
        inputs = {k: batch[k] for k in getattr(model, "INPUT_KEYS", MODEL_INPUT_KEYS) if k in batch}

        def loss_fn(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            logits = model.apply({"params": params}, **inputs, deterministic=False, rngs={"dropout": rng})
            return cross_entropy_loss(logits, batch["decoder_target_tokens"], batch.get("decoder_loss_weights"),
                                      z_loss=z_loss, loss_normalizing_factor=loss_normalizing_factor)  # M36, M37

        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, {"loss": loss, **aux}

    donate = () if jax.default_backend() == "cpu" else (0,)  # CPU cannot donate; avoid the warning
    state_sh = _cached_layout(model, recipe, partitioner).shardings
    repl = partitioner.replicated
    # spec M82: explicit shardings (pjit semantics); the batch prefix shards every [B, L] leaf over 'data'.
    return jax.jit(train_step, in_shardings=(state_sh, partitioner.batch_sharding, repl, repl),
                   out_shardings=(state_sh, repl), donate_argnums=donate)


def train(*, model: nn.Module, train_cfg: Any, batches: Iterable[dict[str, Any]], workdir: str | Path, seed: int,
          init_state: TrainState | None = None, start_step: int | None = 0, total_steps: int | None = None,
          trainable_mask: Any | None = None, init_params: Any | None = None,
          init_opt_state: Any | None = None, async_checkpoints: bool = True,
          partitioning: Partitioner | PartitioningConfig | Mapping[str, Any] | None = None,
          flops_per_example: float | None = None) -> dict[str, Any]:
    """Train `model` for one phase into `workdir`, resuming from its latest checkpoint; return the summary.

    Args:
      model: a Flax module taking the EncDecFeatureConverter keys (docs/architecture.md, Model contract).
      train_cfg: `TrainConfig` or the Hydra `pretrain`/`finetune` node.
      batches: iterator of dicts of [B, L] arrays (Data contract); consumed one batch per update, and
        re-created identically on resume (the first `batches_consumed` are skipped, checkpoint.py).
      workdir: the resume key: `checkpoints/`, `metrics.csv`, `summary.json`.
      seed: run seed: initialisation and dropout (M83).
      init_state: start from this state (fine-tuning from pre-training, M53) instead of a random init.
      start_step: global step at which this phase starts (pre-training steps for fine-tuning, M42); on
        resume the checkpoint's value is used (None: take it from the checkpoint, 0 for a fresh run).
      total_steps: updates in this phase; default `train_cfg.steps`.
      trainable_mask: bool pytree over params; False = frozen (M44). None = all parameters. Or a callable
        `phase_step -> mask` (0-based step of the update; gradual unfreezing, M60) that returns the same
        object while the mask does not change: one train step is compiled per distinct mask, and the mask
        depends only on the step, so a resumed run applies the same masks as a run in one go.
      init_params, init_opt_state: alternative to `init_state` (architecture.md contract).
      async_checkpoints: save checkpoints in the background (M86).
      partitioning: the ('data', 'model') mesh and its rules (partitioning.py, M78-M85): a `Partitioner`,
        or the `partitioning` config block; None = every device data parallel (a 1 x 1 mesh on one CPU).
        Parameters and optimiser state are created or restored sharded on it (M82, M86).
      flops_per_example: spec M30's training FLOPs of one example (`models.flops_per_example`); the summary
        then reports model TFLOP/s and, on a device of known peak, MFU (M89; throughput.py).

    Returns:
      The summary also written to `workdir/summary.json`.
    """
    enable_partitionable_rng()  # spec M83: dropout independent of the layout
    tcfg = TrainConfig.from_cfg(train_cfg)
    part = Partitioner.create(partitioning)
    part.check_batch_size(tcfg.batch_size)  # spec M81 (the stages check first, naming their config key)
    layout = state_layout(model, tcfg, part)  # spec M81 divisibility, M82 shardings; nothing allocated yet
    steps = tcfg.steps if total_steps is None else int(total_steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    schedule = make_schedule(tcfg)
    mask_at = trainable_mask if callable(trainable_mask) else (lambda _step: trainable_mask)
    init_rng, dropout_root = jax.random.split(jax.random.PRNGKey(seed))

    ckpt = Checkpointer(workdir, period=tcfg.checkpoint_period, keep=tcfg.keep_checkpoints,
                        async_save=async_checkpoints)
    metrics_path = workdir / "metrics.csv"
    restored = ckpt.latest_step()
    elapsed_before = 0.0
    if restored is not None:
        state, meta = ckpt.restore(layout.abstract, restored, shardings=layout.shardings)  # M86: onto this mesh
        consumed = int(meta["batches_consumed"])
        elapsed_before = float(meta.get("elapsed_s", 0.0))
        if start_step is not None and int(meta["start_step"]) != start_step:
            log.warning("workdir %s was started at global step %s, not %d; keeping the checkpoint's value",
                        workdir, meta["start_step"], start_step)
        start_step = int(meta["start_step"])
        log.info("resuming %s from step %d (%d batches consumed)", workdir, restored, consumed)
    else:
        state, consumed = _initial_state(model, tcfg, part, layout, init_rng, init_state, init_params,
                                         init_opt_state), 0
        start_step = 0 if start_step is None else int(start_step)
    del init_state, init_params, init_opt_state
    first = int(jax.device_get(state.step))
    rows = _read_metrics(metrics_path, max_step=first)
    _write_metrics(metrics_path, rows)  # truncate rows past the restored step (no duplicates, M52 resume)

    n_params = param_count(state.params)
    log.info("%s: %d parameters, steps %d..%d (global %d..%d), schedule %s, batch %d",
             workdir, n_params, first, steps, start_step + first, start_step + steps, tcfg.schedule,
             tcfg.batch_size)

    def meta_for(step: int, elapsed: float) -> dict[str, Any]:
        return {"step": step, "global_step": start_step + step, "start_step": start_step,
                "batches_consumed": step, "elapsed_s": elapsed, "seed": seed}

    t0 = time.monotonic()
    if first >= steps:
        if restored is None:  # steps == 0: Table 1 "no pre-training" keeps the random init (step 0)
            ckpt.save(state, meta_for(0, 0.0))
        ckpt.close()
        return _finish(workdir, state, rows, steps=steps, start_step=start_step, n_params=n_params,
                       elapsed=elapsed_before, tokens_per_s=None, step_time_s=None, seq=None, seed=seed)

    it: Iterator[dict[str, Any]] = iter(batches)
    # Deterministic data order on resume (checkpoint.py docstring). With several processes (spec M85) each
    # skips `consumed` batches of its own input share, which is the same global position; resuming under
    # another process count re-splits the data, so the order after the restored step then differs.
    for i in range(consumed):
        if next(it, None) is None:
            raise ValueError(f"data iterator ended while skipping to batch {consumed} (at {i})")

    shares = part.input_shard(tcfg.batch_size)[1]  # spec M85: each process holds 1 / shares of a batch
    mask = mask_at(first)
    step_fn = make_train_step(model, tcfg, mask, part)
    start, dropout_root = jax.device_put((jnp.asarray(start_step, jnp.int32), dropout_root), part.replicated)
    stop = _SigtermFlag()
    acc: dict[str, Any] = {}
    window_steps, window_tokens, window_start = 0, 0, time.monotonic()
    timer = throughput.StepTimer()  # M89's step-time breakdown over the steady window (timer.started on)
    steady_tokens = 0
    seq: dict[str, int] | None = None
    step = first
    try:
        with stop:
            def status() -> str:  # the bar shows the last logged row (M38: loss per real token) and throughput
                return (f"loss {rows[-1]['loss']:.4f}, {rows[-1]['tokens_per_s']:,.0f} tok/s" if rows
                        else "first row at step %d" % min(steps, first + tcfg.log_every))

            for step in log_lib.progress(range(first + 1, steps + 1), total=steps - first, desc=workdir.name,
                                         unit="step", status=status):
                with timer.phase("input"):
                    batch = next(it, None)
                    if batch is None:
                        raise ValueError(f"data iterator exhausted after {step - 1} batches (need {steps})")
                    # Input-side tokens per step (M50); a decoder-only model's one sequence holds both sides.
                    input_key = "encoder_input_tokens" if "encoder_input_tokens" in batch else "decoder_input_tokens"
                    if seq is None:
                        seq = {"inputs": int(batch[input_key].shape[1]),
                               "targets": int(batch["decoder_target_tokens"].shape[1])}
                    tokens = int(batch[input_key].size) * shares  # the global batch's (M85: batch = local rows)
                    placed = part.shard_batch(batch, tcfg.batch_size)  # M85
                if mask_at(step - 1) is not mask:  # the trainable set changed (M60): compile its step
                    mask = mask_at(step - 1)
                    step_fn = make_train_step(model, tcfg, mask, part)
                    log.info("step %d: trainable set changed (%d of %d parameter arrays trainable)", step - 1,
                             sum(bool(x) for x in jax.tree.leaves(mask)), len(jax.tree.leaves(mask)))
                state, m = step_fn(state, placed, dropout_root, start)
                acc = m if not acc else jax.tree.map(jnp.add, acc, m)
                window_steps += 1
                window_tokens += tokens
                if timer.started is None:  # exclude compilation from the throughput figures
                    jax.block_until_ready(state.params)
                    timer.start()
                    log.info("first step (incl. compilation) took %.1f s", timer.started - t0)
                else:
                    steady_tokens += tokens
                if step % tcfg.log_every == 0 or step == steps:
                    jax.block_until_ready(acc)  # the wait for the device is compute's, not the row's (StepTimer)
                    with timer.phase("metrics"):
                        now = time.monotonic()
                        row = _metrics_row(step, jax.device_get(acc), window_steps,
                                           lr=float(schedule(start_step + step - 1)),
                                           tokens_per_s=window_tokens / max(now - window_start, 1e-9),
                                           elapsed=elapsed_before + now - t0)
                        if not math.isfinite(row["loss"]):
                            raise FloatingPointError(f"non-finite loss {row['loss']} at step {step} in {workdir}")
                        rows.append(row)
                        _write_metrics(metrics_path, rows)
                        log.info("step %d: loss %.4f ce %.4f acc %.3f lr %.3g %.0f tok/s", step, row["loss"],
                                 row["ce"], row["accuracy"], row["learning_rate"], row["tokens_per_s"])
                        acc, window_steps, window_tokens, window_start = {}, 0, 0, now
                if ckpt.should_save(step) or step == steps:
                    jax.block_until_ready(state)  # as for metrics: the save times its own host work only
                    with timer.phase("checkpoint"):
                        ckpt.save(state, meta_for(step, elapsed_before + time.monotonic() - t0))
                if stop.requested:
                    break
        if stop.requested and step < steps:
            ckpt.save(state, meta_for(step, elapsed_before + time.monotonic() - t0))
            ckpt.close()
            log.warning("SIGTERM: saved step %d to %s; exiting with %d (rerun to resume)", step, ckpt.directory,
                        SIGTERM_EXIT_CODE)
            raise TrainingInterrupted(SIGTERM_EXIT_CODE)
    finally:
        with timer.phase("checkpoint"):
            ckpt.close()  # finalise pending saves even when a step raised
    jax.block_until_ready(state.params)
    end = time.monotonic()
    steady = (end - timer.started) if timer.started is not None else 0.0
    steady_steps = step - first - 1
    step_time_s = steady / steady_steps if steady_steps > 0 else None
    perf = throughput.run_throughput(step_time_s=step_time_s, batch_size=tcfg.batch_size, sequence_length=seq,
                                     flops_per_example=flops_per_example, devices=list(part.mesh.devices.flat))
    perf["step_time_breakdown_s"] = timer.breakdown(steady, steady_steps)
    if perf["step_time_breakdown_s"] is not None:
        log.info("steady step time %s", throughput.format_breakdown(perf["step_time_breakdown_s"]))
    if perf["model_tflops_per_s"] is not None:
        log.info("throughput: %.1f examples/s, %.2f model TFLOP/s (M30)%s", perf["examples_per_s"],
                 perf["model_tflops_per_s"], f", MFU {100 * perf['mfu']:.1f} %" if perf["mfu"] is not None else "")
    return _finish(workdir, state, rows, steps=steps, start_step=start_step, n_params=n_params,
                   elapsed=elapsed_before + end - t0,
                   tokens_per_s=steady_tokens / steady if steady_steps > 0 and steady > 0 else None,
                   step_time_s=step_time_s, seq=seq, seed=seed, perf=perf)


def fresh_state(model: nn.Module, train_cfg: Any, partitioner: Partitioner | None, seed: int) -> TrainState:
    """The random initial `TrainState` of a run with `seed`, created sharded on the mesh (spec M82, M83).

    Equal to what `train()` starts from without `init_state`: parameters from the first half of the
    split seed, fresh Adafactor statistics.
    """
    tcfg = TrainConfig.from_cfg(train_cfg)
    init_rng = jax.random.split(jax.random.PRNGKey(seed))[0]
    return _sharded_init(model, _recipe(tcfg), Partitioner.create(partitioner))(init_rng)


def _initial_state(model: nn.Module, tcfg: TrainConfig, part: Partitioner, layout: StateLayout, rng: jax.Array,
                   init_state: TrainState | None, init_params: Any | None, init_opt_state: Any | None) -> TrainState:
    """The phase's first state, on the mesh: given (fine-tuning, M53) or freshly initialised sharded (M82)."""
    if init_state is not None:
        return place(init_state, layout.shardings)
    recipe = _recipe(tcfg)
    if init_params is None and init_opt_state is None:
        return _sharded_init(model, recipe, part)(rng)  # never materialised on one device (M82)
    params = (_sharded_init(model, recipe, part)(rng).params if init_params is None
              else place(init_params, layout.shardings.params))
    opt_state = (jax.jit(_recipe_optimizer(recipe).init, out_shardings=layout.shardings.opt_state)(params)
                 if init_opt_state is None else init_opt_state)
    return place(TrainState.create(params, opt_state), layout.shardings)


class _SigtermFlag:
    """Context manager: while active, SIGTERM only sets `requested` (main thread only; else a no-op)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        log.warning("received SIGTERM: will checkpoint after the current step")
        self.requested = True

    def __enter__(self) -> "_SigtermFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _metrics_row(step: int, acc: dict[str, Any], n: int, *, lr: float, tokens_per_s: float,
                 elapsed: float) -> dict[str, float]:
    """Window means: loss per step, and per real target token CE, z-loss and accuracy (spec M38)."""
    w = max(float(acc["weight_sum"]), 1.0)
    return {"step": step, "loss": float(acc["loss"]) / n, "ce": float(acc["ce_sum"]) / w,
            "z_loss": float(acc["z_sum"]) / w, "accuracy": float(acc["accuracy_sum"]) / w,
            "learning_rate": lr, "tokens_per_s": tokens_per_s, "elapsed_s": elapsed}


def _read_metrics(path: Path, *, max_step: int) -> list[dict[str, float]]:
    """Rows of an existing metrics.csv with step <= max_step; malformed rows are dropped."""
    if not path.exists():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                row = {k: float(r[k]) for k in METRICS_COLUMNS}
            except (KeyError, TypeError, ValueError):
                continue
            row["step"] = int(row["step"])
            if row["step"] <= max_step:
                rows.append(row)
    return rows


def is_primary() -> bool:
    """Whether this process writes a run's shared files (metrics, TensorBoard, summary, provenance): process 0.

    With several processes (spec M85) every one trains and computes the same metrics, but N writers of one
    path on a shared filesystem would race; checkpoints are orbax's, which coordinates its own writes.
    """
    return jax.process_index() == 0


def _write_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite metrics.csv atomically (a crash never leaves a torn row); mirror the rows as TensorBoard scalars."""
    if not is_primary():
        return
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    io_lib.write_text(path, buf.getvalue())
    summaries.write_scalars(path.parent, rows)  # <workdir>/tensorboard, resumable (summaries.py)


def _finish(workdir: Path, state: TrainState, rows: list[dict[str, float]], *, steps: int, start_step: int,
            n_params: int, elapsed: float, tokens_per_s: float | None, step_time_s: float | None,
            seq: dict[str, int] | None, seed: int, perf: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write summary.json (atomically, last: its presence marks a finished phase) and return it.

    `tokens_per_s` counts input tokens (M50); `perf` adds throughput.run_throughput's fields (M89).
    """
    last = rows[-1] if rows else {}
    summary = {
        "steps": steps,
        "start_step": start_step,
        "global_step": start_step + int(jax.device_get(state.step)),
        "final_loss": last.get("loss"),
        "final_ce": last.get("ce"),
        "final_z_loss": last.get("z_loss"),
        "final_accuracy": last.get("accuracy"),
        "wall_time_s": elapsed,
        "tokens_per_s": tokens_per_s,
        "step_time_s": step_time_s,
        "param_count": n_params,
        "sequence_length": seq,
        "seed": seed,
        "checkpoint_steps": _checkpoint_steps(workdir),
        **(perf or {}),
    }
    if is_primary():
        summaries.close(workdir)
        io_lib.write_json(workdir / "summary.json", summary)
    log.info("finished %s: %s", workdir, {k: summary[k] for k in ("steps", "final_loss", "wall_time_s")})
    return summary


def _checkpoint_steps(workdir: Path) -> list[int]:
    d = workdir / "checkpoints"
    return sorted(int(p.name) for p in d.iterdir() if p.is_dir() and p.name.isdigit()) if d.is_dir() else []
