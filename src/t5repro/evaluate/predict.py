"""Stage `evaluate`: decode a task's validation split at every fine-tuning checkpoint and score it.

Paper §3.1.2 / spec M52, M73, M75, D100-D107: each saved fine-tuning checkpoint is evaluated on the
validation split with greedy decoding (start id 0, stop at EOS) up to min(task target length,
`evaluate.max_decode_length`) tokens; the decoded text goes through the task's postprocessor (D88) and is
compared with the postprocessed raw `targets_pretokenized` (D100); the reported score is the best
checkpoint's (D107). Output: `io.eval_json`, layout in `eval_record`.

The `decoding` block switches to beam search (§3.7, M74: `decoding.method=beam`, width 4, alpha 0.6, capped
at 1.5 x longest input + 10 tokens, M75) and `io.ensemble_dirs` to an ensemble (§3.6, M71): the members'
logits are averaged at every step. Ensemble checkpoints are taken at a common step (Q5: every step that
all members saved is evaluated and the best one is reported, as for one model); the choice is recorded.

The pure parts (`score`, `select_best`, `eval_record`, `checkpoint_steps`, `common_steps`, `restore_params`,
`decoding_config`, `ensemble_members`) are tested directly; `run` glues them to the model, vocabulary and seqio task of
colleagues' modules.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro import log as log_lib
from t5repro.evaluate import metrics as metrics_lib
from t5repro.evaluate.postprocess import postprocessor

if TYPE_CHECKING:  # the model stack (jax, flax) is imported only when decoding runs
    from t5repro.models.decoding import DecodingConfig

logger = logging.getLogger(__name__)

N_SHOWN_EXAMPLES = 5


# ----------------------------------------------------------------- pure parts


def score(targets: Sequence[str], predictions: Sequence[str], *, metric: str,
          label_classes: Sequence[str] | None) -> dict[str, float]:
    """Postprocess gold texts and decoded texts (D88, D100) and apply `metric` (D101); values x100."""
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    post = postprocessor(label_classes)
    gold = [post(t) for t in targets]
    if label_classes is not None:
        bad = sorted({str(t) for t, g in zip(targets, gold) if g == -1})
        if bad:
            raise ValueError(f"gold labels {bad[:5]} are not in task.label_classes={list(label_classes)}")
    pred = [post(p) for p in predictions]
    fn, _ = metrics_lib.get_metric(metric)
    return fn(gold, pred)


def select_best(per_checkpoint: Mapping[int, Mapping[str, float]], key: str) -> int:
    """The step with the highest `key` (D107/M52: best validation checkpoint); ties go to the earliest step.

    The rule itself lives once, in `selection.select_group` (a one-key group here).
    """
    from t5repro.evaluate.selection import select_group

    return select_group(per_checkpoint, (key,)).step


def eval_record(*, task: str, metric: str, stands_in_for: str | None,
                per_checkpoint: Mapping[int, Mapping[str, float]], examples: Sequence[Mapping[str, str]],
                n_examples: int, max_decode_length: int, extra: Mapping[str, Any] | None = None) -> dict:
    """The `io.eval_json` object: per-checkpoint scores, the best step and its scores (D107), a few examples.

    Keys: task, metric, primary_key, stands_in_for, per_checkpoint {step: {metric: value}}, best_step,
    best {metric: value}, n_examples, examples (first 5 {input, target, prediction}), max_decode_length,
    plus `extra` (scale, experiment, run metadata).
    """
    _, primary = metrics_lib.get_metric(metric)
    best_step = select_best(per_checkpoint, primary)
    record = {
        "task": task,
        "metric": metric,
        "primary_key": primary,
        "stands_in_for": stands_in_for,
        "per_checkpoint": {str(s): dict(per_checkpoint[s]) for s in sorted(per_checkpoint)},
        "best_step": int(best_step),
        "best": dict(per_checkpoint[best_step]),
        "n_examples": int(n_examples),
        "examples": [dict(e) for e in examples[:N_SHOWN_EXAMPLES]],
        "max_decode_length": int(max_decode_length),
        "selection": "best validation score over all checkpoints (paper §3.1.2, spec D107/M52)",
    }
    record.update(extra or {})
    return record


def decode_length(task_targets_length: int, cap: int) -> int:
    """M75: decode at most min(task target length, evaluate.max_decode_length) tokens."""
    return int(min(int(task_targets_length), int(cap)))


def decoding_config(cfg: DictConfig) -> DecodingConfig:
    """The `decoding` block as a `DecodingConfig` (M71, M73, M74); a bad value raises naming its key."""
    from t5repro.models.decoding import DecodingConfig

    block = cfg.get("decoding")
    if block is None:
        return DecodingConfig()
    known = {f.name for f in dataclasses.fields(DecodingConfig)}
    extra = sorted(set(block.keys()) - known)
    if extra:
        raise config_lib.ConfigError(f"unknown config key(s) {['decoding.' + k for k in extra]}")
    try:
        return DecodingConfig(**{k: block[k] for k in known if block.get(k) is not None})
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None


# ----------------------------------------------------------------- checkpoints


def checkpoint_steps(finetune_dir: str | Path) -> list[int]:
    """Steps of every complete orbax checkpoint under `<finetune_dir>/checkpoints`, ascending (tmp dirs ignored)."""
    from t5repro.train.checkpoint import all_steps, checkpoint_dir

    root = checkpoint_dir(finetune_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"io.finetune_dir={finetune_dir}: no {root.name}/ folder")
    steps = all_steps(finetune_dir)
    if not steps:
        raise FileNotFoundError(f"io.finetune_dir={finetune_dir}: no complete checkpoint in {root}")
    return steps


def ensemble_members(cfg: DictConfig) -> list[Path]:
    """`io.finetune_dir` then `io.ensemble_dirs`: the fine-tuning workdirs decoded together (§3.6, M71)."""
    first = config_lib.require_path(cfg, "io.finetune_dir")
    others = config_lib.select(cfg, "io.ensemble_dirs", []) or []
    if isinstance(others, str):
        raise config_lib.ConfigError(f"io.ensemble_dirs must be a list of fine-tuning workdirs, got {others!r}")
    members = [first] + [Path(str(d)) for d in others]
    resolved = [m.resolve() for m in members]
    if len(set(resolved)) != len(resolved):
        raise config_lib.ConfigError(f"io.ensemble_dirs repeats a member (io.finetune_dir is the first): "
                                     f"{[str(m) for m in members]}")
    return members


def common_steps(finetune_dirs: Sequence[str | Path]) -> list[int]:
    """Steps saved by every ensemble member (§3.6 / Q5: members are compared at a common step), ascending."""
    per_dir = [set(checkpoint_steps(d)) for d in finetune_dirs]
    steps = sorted(set.intersection(*per_dir)) if per_dir else []
    if not steps:
        listed = {str(d): sorted(s) for d, s in zip(finetune_dirs, per_dir)}
        raise FileNotFoundError(f"io.finetune_dir + io.ensemble_dirs: no checkpoint step common to all members "
                                f"({listed})")
    return steps


def restore_params(finetune_dir: str | Path, step: int, like: Any | None = None) -> Any:
    """The `params` of the TrainState saved at `step` (t5repro.train.checkpoint layout `<step>/state`).

    Restored without the optimiser's structure (evaluation needs none); when `like` (a params tree or its
    `jax.eval_shape`) is given, tree structure and shapes are checked and a mismatch raises naming the path.
    """
    import jax
    import orbax.checkpoint as ocp

    from t5repro.train.checkpoint import checkpoint_dir

    path = checkpoint_dir(finetune_dir) / str(int(step)) / "state"
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint state at {path}")
    with ocp.StandardCheckpointer() as ckptr:
        state = ckptr.restore(path)
    if "params" not in state:
        raise ValueError(f"{path}: saved state has no 'params' (keys: {sorted(state)})")
    params = jax.tree.map(np.asarray, state["params"])
    if like is not None:
        want = {jax.tree_util.keystr(k): tuple(v.shape) for k, v in jax.tree_util.tree_leaves_with_path(like)}
        got = {jax.tree_util.keystr(k): tuple(v.shape) for k, v in jax.tree_util.tree_leaves_with_path(params)}
        if want != got:
            diff = sorted(set(want.items()) ^ set(got.items()))[:5]
            raise ValueError(f"{path}: parameters do not match the configured model (first differences: {diff})")
        params = jax.tree.unflatten(jax.tree.structure(like), jax.tree.leaves(params))
    return params


# ----------------------------------------------------------------- data and decoding


def load_examples(task_name: str, *, split: str, sequence_length: Mapping[str, int],
                  max_examples: int | None) -> list[dict[str, Any]]:
    """The task's `split` in file order, unpacked: `inputs` ids (trimmed + EOS), raw input and target texts.

    Not sharded (unlike training input, spec M85): evaluation is single-process. Under several processes
    each one would read the whole split and decode it on its own first local device with unsharded
    parameters, redundantly: the same scores, the same io.eval_json (no collectives, so nothing hangs).
    """
    import seqio

    task = seqio.get_mixture_or_task(task_name)
    ds = task.get_dataset(dict(sequence_length), split=split, use_cached=False, shuffle=False, num_epochs=1)
    if max_examples is not None:
        ds = ds.take(int(max_examples))
    out = []
    for ex in ds.as_numpy_iterator():
        out.append({
            "inputs": np.asarray(ex["inputs"], np.int32),
            "input_text": _text(ex.get("inputs_pretokenized", b"")),
            "target_text": _text(ex["targets_pretokenized"]),
        })
    if not out:
        raise ValueError(f"task {task_name!r}: split {split!r} is empty")
    return out


def _text(x: Any) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def batches(examples: Sequence[Mapping[str, Any]], *, batch_size: int, input_length: int
            ) -> Iterator[tuple[np.ndarray, int]]:
    """Fixed-shape [batch_size, input_length] right-padded input ids (one jit shape) and the real row count."""
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        arr = np.zeros((batch_size, input_length), np.int32)
        for i, ex in enumerate(chunk):
            ids = ex["inputs"][:input_length]
            arr[i, :len(ids)] = ids
        yield arr, len(chunk)


def predict_texts(model: Any, params: Any, examples: Sequence[Mapping[str, Any]], vocabulary: Any, *,
                  batch_size: int, input_length: int, max_decode_length: int,
                  decoding: DecodingConfig | None = None, desc: str = "decode") -> list[str]:
    """Decode every example (greedy by default, M73; beam per `decoding`, M74) and detokenise up to EOS (D35).

    `params` is one model's parameters or a list of ensemble members' (M71).
    """
    from t5repro.models.decoding import DecodingConfig, decode

    decoding = decoding or DecodingConfig()
    texts: list[str] = []
    n_batches = -(-len(examples) // batch_size)
    it: Iterable = batches(examples, batch_size=batch_size, input_length=input_length)
    for tokens, n in log_lib.progress(it, total=n_batches, desc=desc, unit="batch"):
        out = decode(model, params, tokens, decoding, max_decode_length=max_decode_length,
                     valid_vocab_size=int(vocabulary.vocab_size))
        texts += [vocabulary.decode([int(t) for t in row]) for row in out[:n]]
    return texts


# ----------------------------------------------------------------- stage


def run(cfg: DictConfig) -> None:
    """Stage `evaluate`: decode and score every checkpoint of `io.finetune_dir`; write `io.eval_json` (D107)."""
    import jax

    from t5repro.models import T5Config, architectures
    from t5repro.tasks import register_downstream_task
    from t5repro.vocab import get_vocabulary

    finetune_dir = config_lib.require_path(cfg, "io.finetune_dir")
    decoding = decoding_config(cfg)
    members = ensemble_members(cfg)
    eval_json = config_lib.require_path(cfg, "io.eval_json")
    vocab_model = config_lib.require_path(cfg, "io.vocab_model")
    task_cfg = cfg.task
    metric = str(task_cfg.metric)
    metrics_lib.get_metric(metric)  # fail on an unknown metric before any decoding
    label_classes = list(task_cfg.label_classes) if task_cfg.label_classes is not None else None

    vocabulary = get_vocabulary(str(vocab_model), int(cfg.vocab.extra_ids))
    task_name = register_downstream_task(cfg)
    seq = {"inputs": int(task_cfg.sequence_length.inputs), "targets": int(task_cfg.sequence_length.targets)}
    max_len = decode_length(seq["targets"], int(cfg.evaluate.max_decode_length))
    max_examples = cfg.evaluate.max_examples
    examples = load_examples(task_name, split=str(cfg.evaluate.split), sequence_length=seq,
                             max_examples=None if max_examples is None else int(max_examples))
    targets = [ex["target_text"] for ex in examples]
    logger.info("task %s (%s): %d %s examples, metric %s, max_decode_length %d (M75), inputs length %d, "
                "decoding %s", task_name, task_cfg.get("stands_in_for"), len(examples), cfg.evaluate.split, metric,
                max_len, seq["inputs"], decoding)

    model_config = T5Config.from_cfg(cfg.model, vocab_size=int(vocabulary.vocab_size))
    if cfg.get("finetune_method") is not None:  # the fine-tuned model: adapters add parameters (M55)
        from t5repro.train.finetune_methods import model_config as finetuned_config
        model_config = finetuned_config(model_config, cfg.finetune_method)
    model = architectures.build_model(config_lib.require(cfg, "arch.name"), model_config)  # a Table 2 row (§3.2)
    like = jax.eval_shape(lambda: architectures.init_params(model, jax.random.PRNGKey(0)))

    steps = checkpoint_steps(finetune_dir) if len(members) == 1 else common_steps(members)
    logger.info("evaluating %d checkpoints of %s: steps %s", len(steps), ", ".join(map(str, members)), steps)
    per_checkpoint: dict[int, dict[str, float]] = {}
    predictions_by_step: dict[int, list[str]] = {}
    for step in steps:
        member_params = [restore_params(d, step, like=like) for d in members]
        params = member_params[0] if len(members) == 1 else member_params
        preds = predict_texts(model, params, examples, vocabulary, batch_size=int(cfg.evaluate.batch_size),
                              input_length=seq["inputs"], max_decode_length=max_len, decoding=decoding,
                              desc=f"step {step}")
        per_checkpoint[step] = score(targets, preds, metric=metric, label_classes=label_classes)
        predictions_by_step[step] = preds
        logger.info("step %d: %s", step, ", ".join(f"{k}={v:.2f}" for k, v in per_checkpoint[step].items()))

    _, primary = metrics_lib.get_metric(metric)
    best = select_best(per_checkpoint, primary)
    shown = [{"input": ex["input_text"], "target": ex["target_text"], "prediction": p}
             for ex, p in zip(examples[:N_SHOWN_EXAMPLES], predictions_by_step[best])]
    extra: dict[str, Any] = {"scale": str(cfg.scale_name), "experiment": str(cfg.experiment_name),
                             "split": str(cfg.evaluate.split), "metadata": io_lib.run_metadata(),
                             "decoding": dataclasses.asdict(decoding)}
    if len(members) > 1:
        extra["ensemble"] = {"members": [str(d) for d in members], "reduction": decoding.ensemble_reduction,
                             "checkpoint_selection": "common step of all members, best reported (Q5)"}
    if metric == "bleu":
        extra["bleu_signature"] = metrics_lib.bleu_signature()  # D104: log the signature with the score
    record = eval_record(task=task_name, metric=metric, stands_in_for=task_cfg.get("stands_in_for"),
                         per_checkpoint=per_checkpoint, examples=shown, n_examples=len(examples),
                         max_decode_length=max_len, extra=extra)
    io_lib.write_json(eval_json, record)
    logger.info("best step %d: %s=%.2f; wrote %s", best, primary, per_checkpoint[best][primary], eval_json)
