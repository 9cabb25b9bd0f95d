"""Fine-tuning methods of §3.5.1 (Table 10): all parameters, adapter layers, gradual unfreezing.

Spec model.md §4 (M55-M62), M44, open questions Q2 and Q3. A method is the `finetune_method` config group
(conf/finetune_method/*.yaml); it decides

* the model built for fine-tuning (`model_config`): adapters add a sub-layer per block (M55), so the
  fine-tuning parameter tree is the pre-training one plus `adapter` / `pre_adapter_layer_norm` entries;
* which parameters are trained (`trainable_mask`): a bool pytree over the parameters, True = trainable.
  Frozen parameters get a zero update and untouched Adafactor statistics (`optim.with_trainable_mask`, M44).

Gradual unfreezing changes the mask during fine-tuning (M60). `mask_for_training` returns a
`MaskSchedule`, a callable `phase_step -> mask` that returns the *same* mask object throughout an episode;
the trainer compiles one train step per distinct mask (a static mask: at most `num_episodes` compilations,
12 for Base), so frozen leaves are selected at trace time exactly as for a fixed mask. The mask is a pure
function of the 0-based fine-tuning step, so a resumed run uses the same masks as a run in one go.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import jax

from t5repro.config import ConfigError
from t5repro.models.config import T5Config
from t5repro.models.layers import ADAPTER, ADAPTER_NORM

METHODS = ("all_params", "adapters", "gradual_unfreezing")
EMBEDDING = "token_embedder"
STACKS = ("encoder", "decoder")
FINAL_NORM = "final_layer_norm"
LAYER_PREFIX = "layers_"


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------

def _get(method_cfg: Any, key: str, default: Any = None) -> Any:
    if method_cfg is None:
        return default
    if hasattr(method_cfg, "get"):
        return method_cfg.get(key, default)
    return getattr(method_cfg, key, default)


def method_name(method_cfg: Any) -> str:
    """The validated method name; a bad configuration raises ConfigError naming the key."""
    name = _get(method_cfg, "name")
    if name not in METHODS:
        raise ConfigError(f"finetune_method.name: unknown fine-tuning method {name!r} "
                          f"(known: {', '.join(METHODS)})")
    name = str(name)
    if name == "adapters":
        adapter_dim(method_cfg)
        tln = _get(method_cfg, "train_layer_norms", True)
        if not isinstance(tln, bool):
            raise ConfigError(f"finetune_method.train_layer_norms must be true or false, got {tln!r}")
    elif name == "gradual_unfreezing":
        n = _get(method_cfg, "num_episodes")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            raise ConfigError(f"finetune_method.num_episodes must be a positive integer or null, got {n!r}")
    return name


def adapter_dim(method_cfg: Any) -> int | None:
    """d_A of the `adapters` method (M56), None for the other methods; must be a positive integer."""
    if _get(method_cfg, "name") != "adapters":
        return None
    d = _get(method_cfg, "adapter_dim")
    if d is None or isinstance(d, bool) or not isinstance(d, int) or d <= 0:
        raise ConfigError(f"finetune_method.adapter_dim must be a positive integer (Table 10: 32, 128, 512, "
                          f"2048), got {d!r}")
    return int(d)


def model_config(config: T5Config, method_cfg: Any) -> T5Config:
    """The model fine-tuned by `method_cfg`: `config` plus adapters for `adapters` (M55), else `config`."""
    method_name(method_cfg)
    d = adapter_dim(method_cfg)
    return config if d is None else config.replace(adapter_dim=d)


# ----------------------------------------------------------------------------------------------
# Gradual unfreezing schedule (M60, M61)
# ----------------------------------------------------------------------------------------------

def episode(step: int, total_steps: int, num_episodes: int) -> int:
    """Episode of 0-based fine-tuning step s: floor(E * s / T), clamped to E - 1 (M60)."""
    if total_steps <= 0 or num_episodes <= 0:
        raise ValueError(f"total_steps and num_episodes must be positive, got {total_steps}, {num_episodes}")
    return min(num_episodes * int(step) // total_steps, num_episodes - 1)


def episode_starts(num_episodes: int, total_steps: int) -> list[int]:
    """First step of each episode: ceil(e * T / E) (M60: 0, 21846, 43691, ... for E = 12, T = 2^18)."""
    return [-(-e * total_steps // num_episodes) for e in range(num_episodes)]


def unfrozen_blocks(ep: int, num_layers: int, num_episodes: int) -> int:
    """How many top blocks of an L-block stack are trainable in episode e: ceil((e + 1) L / E).

    For E = L (the paper's 12 episodes over 12 blocks) this is e + 1, i.e. blocks with index >= L - 1 - e (M60).
    """
    return min(num_layers, -(-(ep + 1) * num_layers // num_episodes))


# ----------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------

def _path_names(path: tuple) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def stack_num_layers(params: Mapping[str, Any]) -> dict[str, int]:
    """Number of blocks per stack, read from the `layers_<i>` entries of the parameter tree."""
    out = {}
    for stack in STACKS:
        names = [k for k in params.get(stack, {}) if str(k).startswith(LAYER_PREFIX)]
        out[stack] = len(names)
    return out


def _map_with_names(fn: Callable[[tuple[str, ...]], bool], params: Any) -> Any:
    return jax.tree_util.tree_map_with_path(lambda p, _: bool(fn(_path_names(p))), params)


def _adapters_mask(params: Any, train_layer_norms: bool) -> Any:
    """M58: adapter weights and adapter norms; plus every base RMSNorm scale when `train_layer_norms` (Q2)."""
    def trainable(names: tuple[str, ...]) -> bool:
        if ADAPTER in names or ADAPTER_NORM in names:
            return True
        is_norm = len(names) >= 2 and names[-1] == "scale" and names[-2].endswith("layer_norm")
        return bool(train_layer_norms and is_norm)

    mask = _map_with_names(trainable, params)
    if not any(ADAPTER in _path_names(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)):
        raise ValueError("finetune_method adapters: the model has no adapter parameters (build it with "
                         "finetune_methods.model_config, T5Config.adapter_dim)")
    return mask


def _unfreezing_mask(params: Any, ep: int, num_episodes: int, layers: Mapping[str, int]) -> Any:
    """M60/M61: top blocks of both stacks, the embedding and the stack-final norms; rel_bias with block 0 (Q3)."""
    first_trainable = {s: n - unfrozen_blocks(ep, n, num_episodes) for s, n in layers.items()}

    def trainable(names: tuple[str, ...]) -> bool:
        if names[0] == EMBEDDING:
            return True  # M61: the shared embedding / output matrix throughout
        if names[0] in STACKS and len(names) >= 2:
            if names[1] == FINAL_NORM:
                return True  # M61: sits above the top block, trainable from episode 0
            if names[1].startswith(LAYER_PREFIX):
                # rel_bias lives in layers_0/self_attention/relpos_bias: unfrozen with block 0 (M61, Q3)
                return int(names[1][len(LAYER_PREFIX):]) >= first_trainable[names[0]]
        raise ValueError(f"gradual_unfreezing: no rule for parameter {'/'.join(names)}")

    return _map_with_names(trainable, params)


def num_episodes_for(method_cfg: Any, layers: Mapping[str, int]) -> int:
    """`finetune_method.num_episodes`, null = the number of blocks per stack (M60: 12 for Base)."""
    n = _get(method_cfg, "num_episodes")
    return int(n) if n is not None else max(layers.values())


def trainable_mask(params: Any, method_cfg: Any, *, num_layers: int | None = None, step: int = 0,
                   total_steps: int | None = None) -> Any:
    """Bool pytree over `params` (True = trainable) of `method_cfg` at 0-based fine-tuning step `step`.

    `all_params`: all True. `adapters`: M58 (switch `train_layer_norms`, Q2). `gradual_unfreezing`:
    M60/M61 at step `step` of `total_steps` (required); `num_layers` overrides the default episode
    count (the stacks' block count) when `finetune_method.num_episodes` is null.
    """
    name = method_name(method_cfg)
    if name == "all_params":
        return jax.tree.map(lambda _: True, params)
    if name == "adapters":
        return _adapters_mask(params, bool(_get(method_cfg, "train_layer_norms", True)))
    if total_steps is None:
        raise ValueError("gradual_unfreezing needs total_steps (the number of fine-tuning steps)")
    layers = stack_num_layers(params)
    if _get(method_cfg, "num_episodes") is None and num_layers is not None:
        n_ep = int(num_layers)
    else:
        n_ep = num_episodes_for(method_cfg, layers)
    return _unfreezing_mask(params, episode(step, int(total_steps), n_ep), n_ep, layers)


class MaskSchedule:
    """`phase_step -> mask` for gradual unfreezing: one mask object per episode (memoised), M60.

    The trainer calls it with the 0-based step of the update about to be applied and compiles a new
    train step only when the returned object changes (once per episode).
    """

    def __init__(self, params: Any, method_cfg: Any, *, total_steps: int) -> None:
        self.layers = stack_num_layers(params)
        self.num_episodes = num_episodes_for(method_cfg, self.layers)
        self.total_steps = int(total_steps)
        self._params_like = jax.tree.map(lambda _: 0, params)  # structure only
        self._masks: dict[int, Any] = {}

    def episode(self, step: int) -> int:
        return episode(step, self.total_steps, self.num_episodes)

    def starts(self) -> list[int]:
        return episode_starts(self.num_episodes, self.total_steps)

    def __call__(self, step: int) -> Any:
        ep = self.episode(step)
        if ep not in self._masks:
            self._masks[ep] = _unfreezing_mask(self._params_like, ep, self.num_episodes, self.layers)
        return self._masks[ep]


def mask_for_training(params: Any, method_cfg: Any, *, total_steps: int) -> Any:
    """What `trainer.train(trainable_mask=...)` takes: None (all parameters, plain Adafactor), a fixed
    bool pytree (adapters) or a `MaskSchedule` (gradual unfreezing)."""
    name = method_name(method_cfg)
    if name == "all_params":
        return None
    if name == "adapters":
        return trainable_mask(params, method_cfg)
    return MaskSchedule(params, method_cfg, total_steps=total_steps)


def describe(params: Any, method_cfg: Any, *, total_steps: int) -> dict[str, Any]:
    """Run-manifest record of the method's decisions (spec §8: record Q2/Q3 choices)."""
    name = method_name(method_cfg)
    out: dict[str, Any] = {"name": name}
    if name == "adapters":
        mask = trainable_mask(params, method_cfg)
        out.update(adapter_dim=adapter_dim(method_cfg),
                   train_layer_norms=bool(_get(method_cfg, "train_layer_norms", True)),
                   trainable_params=_count(params, mask))
    elif name == "gradual_unfreezing":
        sched = MaskSchedule(params, method_cfg, total_steps=total_steps)
        out.update(num_episodes=sched.num_episodes, episode_starts=sched.starts(),
                   final_norms="trainable from episode 0", rel_bias="trainable with block 0 (Q3 default)",
                   frozen_optimizer_statistics="kept (M44)")
    return out


def _count(params: Any, mask: Any) -> int:
    return int(sum(math.prod(x.shape) for x, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if m))


# ----------------------------------------------------------------------------------------------
# Initialising fine-tuning from a pre-training state that lacks the new (adapter) parameters
# ----------------------------------------------------------------------------------------------

def merge_pretrained(fresh: Any, pretrained: Any) -> Any:
    """`fresh` (e.g. the TrainState of the adapter model) with every leaf that `pretrained` has replaced.

    Leaves are matched by key path: parameters and their Adafactor statistics come from pre-training, the
    shared counters too (M42); leaves only `fresh` has (adapter weights and their statistics) stay fresh.
    Every leaf of `pretrained` must find its place with the same shape.
    """
    pre = {p: x for p, x in jax.tree_util.tree_leaves_with_path(pretrained)}
    used = set()

    def pick(path: tuple, x: Any) -> Any:
        if path in pre:
            y = pre[path]
            if tuple(x.shape) != tuple(y.shape):
                raise ValueError(f"shape mismatch at {jax.tree_util.keystr(path)}: {y.shape} vs {x.shape}")
            used.add(path)
            return y
        return x

    out = jax.tree_util.tree_map_with_path(pick, fresh)
    missing = [jax.tree_util.keystr(p) for p in pre if p not in used]
    if missing:
        raise ValueError(f"pre-training state entries absent from the fine-tuning state: {missing[:5]}")
    return out
