"""Data + model parallelism on a ('data', 'model') device mesh (paper §2.1; spec model.md §6, M78-M86).

The paper trained with Mesh TensorFlow's data + model parallelism. We express the same layout the way t5x
does: every parameter axis carries a *logical* name (`embed`, `mlp`, `joined_kv`, `heads`, `vocab`,
`relpos_buckets`; the model attaches them with `nn.with_logical_partitioning`), and a short rule table
maps logical names onto the two mesh axes (M79). flax's `nn.logical_to_mesh_sharding` turns the names into
`jax.sharding.NamedSharding`s, and `jax.jit` with explicit in/out shardings runs the train step SPMD (M82).
The same code runs on one CPU (a 1 x 1 mesh) and on a pod slice; only the mesh shape changes (M78).

Hand-written here: the Adafactor state layout (`opt_state_logical_axes`). optax has no partitioning
metadata and `optax.tree_utils.tree_map_params` cannot trace Adafactor's shape-dependent init, so we read
the factored dims with optax's own `_factored_dims` (as `optim.is_factored` does) and drop the matching
logical axis, which is t5x's `derive_logical_axes` rule (M82).

`jax_threefry_partitionable` (M83) is already True by default in jax >= 0.5 (and in the pinned 0.10.2);
`enable_partitionable_rng` still sets it, so an older jax or a user flag cannot silently change dropout
masks between layouts.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from flax import linen as nn
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec
from optax._src import factorized

from t5repro.config import ConfigError
from t5repro.train.optim import MIN_DIM_SIZE_TO_FACTOR

log = logging.getLogger(__name__)

MESH_AXES = ("data", "model")  # spec M78
LogicalRules = tuple[tuple[str, str | None], ...]

# spec M79 (t5x standard_logical_axis_rules, 1-D parameter sharding). Order matters: flax assigns each
# mesh axis at most once per array, first rule first.
_RULES_1D: LogicalRules = (
    ("batch", "data"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("joined_kv", "model"),
    ("kv", None),
    ("embed", None),
    ("relpos_buckets", None),
    ("length", None),
)


@dataclasses.dataclass(frozen=True)
class PartitioningConfig:
    """The `partitioning` config block: model-parallel degree and 1-D/2-D parameter sharding (M78, M80)."""

    model_parallelism: int = 1            # n_model (M78); n_data = device count / n_model
    parameter_partitioning_dims: int = 1  # 2: also shard parameters' 'embed' over 'data' (M80, ZeRO-3-like)

    def __post_init__(self) -> None:
        if not isinstance(self.model_parallelism, int) or self.model_parallelism < 1:
            raise ConfigError(f"partitioning.model_parallelism must be a positive integer, got "
                              f"{self.model_parallelism!r}")
        if self.parameter_partitioning_dims not in (1, 2):
            raise ConfigError(f"partitioning.parameter_partitioning_dims must be 1 or 2, got "
                              f"{self.parameter_partitioning_dims!r}")

    @classmethod
    def from_cfg(cls, cfg: Any) -> "PartitioningConfig":
        """Build from the Hydra `partitioning` node (or a mapping / None); unknown keys name themselves."""
        if isinstance(cfg, cls):
            return cfg
        if cfg is None:
            return cls()
        items = dict(cfg.items()) if hasattr(cfg, "items") else dict(vars(cfg))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(items) - names)
        if unknown:
            raise ConfigError(f"unknown config key(s) {', '.join('partitioning.' + k for k in unknown)}")
        out: dict[str, int] = {}
        for k, v in items.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
                raise ConfigError(f"partitioning.{k} must be an integer, got {v!r}")
            out[k] = int(v)
        return cls(**out)


def logical_axis_rules(parameter_partitioning_dims: int = 1) -> LogicalRules:
    """Logical axis name -> mesh axis (spec M79); with 2, parameters' 'embed' also goes to 'data' (M80).

    Under 2-D sharding, an array that already uses 'data' for 'batch' (activations) keeps 'embed'
    replicated: flax assigns each mesh axis once per array, rules in order.
    """
    if parameter_partitioning_dims == 1:
        return _RULES_1D
    if parameter_partitioning_dims == 2:
        return tuple(("embed", "data") if name == "embed" else (name, axis) for name, axis in _RULES_1D)
    raise ConfigError(f"partitioning.parameter_partitioning_dims must be 1 or 2, got {parameter_partitioning_dims!r}")


def enable_partitionable_rng() -> None:
    """Dropout masks independent of the device layout (spec M83); already jax's default since 0.5."""
    jax.config.update("jax_threefry_partitionable", True)


def make_mesh(model_parallelism: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The 2-D ('data', 'model') mesh over all devices: n_data = device count / n_model (spec M78).

    Axes are `AxisType.Auto` (jit's GSPMD propagation, pjit semantics, M82); `jax.make_mesh` would
    default to Explicit axes, which change the typing rules of every traced array.
    """
    devices = list(jax.devices() if devices is None else devices)
    n = len(devices)
    if model_parallelism < 1 or n % model_parallelism:
        raise ConfigError(f"partitioning.model_parallelism={model_parallelism} must divide the device count {n} "
                          f"(n_data = devices / n_model, spec M78)")
    shape = (n // model_parallelism, model_parallelism)
    return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto, AxisType.Auto), devices=devices)


@dataclasses.dataclass(frozen=True)
class Partitioner:
    """A mesh plus its logical axis rules: shardings of parameters, optimiser state and batches (M78-M85).

    Hashable (Mesh and a tuple of rules), so compiled steps can be cached per partitioner. An
    `AbstractMesh` (no devices) serves the rule and divisibility checks, e.g. in tests on one CPU.
    """

    mesh: Mesh | AbstractMesh
    rules: LogicalRules = _RULES_1D

    @classmethod
    def create(cls, config: "PartitioningConfig | Partitioner | Mapping[str, Any] | None" = None,
               devices: Sequence[jax.Device] | None = None) -> "Partitioner":
        """Mesh over `devices` (default: all) with the degrees of `config` (default: pure data parallelism)."""
        if isinstance(config, Partitioner):
            return config
        pc = PartitioningConfig.from_cfg(config)
        return cls(make_mesh(pc.model_parallelism, devices), logical_axis_rules(pc.parameter_partitioning_dims))

    @property
    def n_data(self) -> int:
        """Data-parallel degree (size of the 'data' mesh axis)."""
        return int(self.mesh.shape["data"])

    @property
    def n_model(self) -> int:
        """Model-parallel degree (size of the 'model' mesh axis)."""
        return int(self.mesh.shape["model"])

    @property
    def replicated(self) -> NamedSharding:
        """Every device holds the whole array (scalars, RNG keys, metrics)."""
        return NamedSharding(self.mesh, PartitionSpec())

    @property
    def batch_sharding(self) -> NamedSharding:
        """Rows over 'data', the rest replicated: [batch, length] -> ('data', None) (spec M79, M85)."""
        return NamedSharding(self.mesh, PartitionSpec(self._mesh_axis("batch")))

    def _mesh_axis(self, logical: str) -> str | None:
        return dict(self.rules).get(logical)

    def mesh_specs(self, logical_specs: Any) -> Any:
        """Tree of logical PartitionSpecs -> tree of mesh PartitionSpecs (unknown names are an error)."""
        known = {name for name, _ in self.rules}
        for spec in _spec_leaves(logical_specs):
            unknown = [a for a in spec if isinstance(a, str) and a not in known]
            if unknown:  # flax would silently replicate a misspelt axis
                raise ValueError(f"logical axis name(s) {unknown} have no partitioning rule (spec M79); "
                                 f"known: {sorted(known)}")
        return nn.logical_to_mesh(logical_specs, list(self.rules))

    def shardings(self, logical_specs: Any) -> Any:
        """Tree of logical PartitionSpecs -> tree of NamedShardings on this mesh (spec M79, M82)."""
        self.mesh_specs(logical_specs)  # name check
        return nn.logical_to_mesh_sharding(logical_specs, self.mesh, list(self.rules))

    def check_batch_size(self, batch_size: int, key: str = "batch_size") -> None:
        """Global batch rows must split evenly over 'data' (spec M81); the error names config `key`."""
        if batch_size % self.n_data:
            raise ConfigError(f"{key}={batch_size} is not divisible by the data-parallel degree n_data={self.n_data} "
                              f"(= {self.mesh.size} devices / partitioning.model_parallelism="
                              f"{self.n_model}; spec M81)")

    def check_divisible(self, shapes: Any, logical_specs: Any) -> None:
        """Every sharded dimension splits evenly over its mesh axes (spec M81: n_model | h, H, f, V).

        `shapes` is a tree of arrays or ShapeDtypeStructs with the structure of `logical_specs`.
        """
        keys = {"model": "partitioning.model_parallelism",
                "data": "partitioning.parameter_partitioning_dims (n_data = devices / n_model)"}
        problems = []
        specs = self.mesh_specs(logical_specs)
        flat_specs = _spec_leaves(specs)
        flat_logical = _spec_leaves(logical_specs)
        flat_shapes = jax.tree_util.tree_flatten_with_path(shapes)[0]
        for (path, x), spec, logical in zip(flat_shapes, flat_specs, flat_logical):
            for dim, (size, axes) in enumerate(zip(np.shape(x), tuple(spec) + (None,) * len(np.shape(x)))):
                if axes is None:
                    continue
                axes = (axes,) if isinstance(axes, str) else tuple(axes)
                ways = math.prod(int(self.mesh.shape[a]) for a in axes)
                if size % ways:
                    problems.append(f"{jax.tree_util.keystr(path)} dim {dim} ('{logical[dim]}', size {size}) over "
                                    f"{'x'.join(axes)}={ways} ({' / '.join(keys[a] for a in axes)})")
        if problems:
            raise ConfigError("parameter dimensions not divisible by their mesh axes (spec M81: n_model must divide "
                              "h, H, f and V):\n  " + "\n  ".join(problems))

    def state_shardings(self, abstract_state: Any, param_logical_specs: Any) -> Any:
        """NamedShardings of a `TrainState`: params by M79, Adafactor statistics by M82, the rest replicated."""
        logical = state_logical_axes(abstract_state, param_logical_specs)
        return self.shardings(logical)

    @functools.lru_cache(maxsize=None)  # asked at every step (shard_batch); the answer is fixed per mesh and batch
    def input_shard(self, global_rows: int, key: str = "batch_size") -> tuple[int, int]:
        """(index, count): this process loads row block `index` of `count` equal blocks of each global
        batch (spec M85), as the batch sharding places rows on its devices.

        count is the process count when every process holds its own rows; processes whose devices hold
        the same rows (model parallelism across hosts, n_data < process count) share an index and must
        load the same data. One process: (0, 1). Errors name config `key` (M81).
        """
        if jax.process_count() == 1:
            return 0, 1
        self.check_batch_size(global_rows, key)
        rows_of: dict[int, set[int]] = {}
        for device, index in self.batch_sharding.devices_indices_map((int(global_rows),)).items():
            rows_of.setdefault(device.process_index, set()).update(range(*index[0].indices(int(global_rows))))
        blocks = sorted({(min(r), max(r) + 1) for r in rows_of.values()})
        n, size = len(blocks), int(global_rows) // len(blocks)
        contiguous = all(len(r) == max(r) + 1 - min(r) for r in rows_of.values())
        if not contiguous or global_rows % n or blocks != [(i * size, (i + 1) * size) for i in range(n)]:
            raise ValueError(f"the batch sharding does not give each process an equal, contiguous block of "
                             f"rows ({blocks}); spec M85 needs one (check the device order of the mesh)")
        mine = rows_of[jax.process_index()]
        return blocks.index((min(mine), max(mine) + 1)), n

    def shard_batch(self, batch: Mapping[str, Any], global_rows: int | None = None) -> dict[str, jax.Array]:
        """Global [B, L] arrays from this process's rows, rows split over 'data' (spec M85).

        Each process passes only its share of the global batch (B / count rows, `input_shard`); on one
        process that is the whole batch. With several processes, `global_rows` (the recipe's
        batch_size) is checked, so hosts that each load the whole batch fail instead of training
        on a batch `process count` times larger.
        """
        sharding = self.batch_sharding
        shares = self.input_shard(global_rows)[1] if global_rows is not None else jax.process_count()
        out = {}
        for k, v in batch.items():
            v = np.asarray(v)
            rows = v.shape[0] * shares
            if jax.process_count() > 1 and global_rows is not None and rows != global_rows:
                raise ValueError(f"each of the {jax.process_count()} processes must load batch_size / "
                                 f"{shares} rows of '{k}', got {v.shape[0]} (spec M85)")
            if rows % self.n_data:
                raise ConfigError(f"batch of {rows} rows ('{k}') is not divisible by n_data={self.n_data} "
                                  "(spec M81: the train batch_size must be a multiple of it)")
            out[k] = jax.make_array_from_process_local_data(sharding, v)
        return out


def _spec_leaves(tree: Any) -> list[PartitionSpec]:
    return jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, PartitionSpec))


def state_logical_axes(abstract_state: Any, param_logical_specs: Any) -> Any:
    """Logical PartitionSpecs of a `TrainState` (step replicated, params as given, optimiser by M82)."""
    return abstract_state.replace(
        step=PartitionSpec(),
        params=param_logical_specs,
        opt_state=opt_state_logical_axes(abstract_state.opt_state, abstract_state.params, param_logical_specs))


def opt_state_logical_axes(opt_state: Any, params: Any, param_logical_specs: Any) -> Any:
    """Logical PartitionSpecs of an optax state: statistics inherit their parameter's kept axes (spec M82).

    Adafactor (`FactoredState`): for a factored parameter with factored dims (d1, d0) (optax: d0 the
    largest, d1 the second largest), `v_row` drops d0's axis and `v_col` drops d1's axis (t5x
    `derive_logical_axes`); `v` is a [1] placeholder. For an unfactored one, `v` has the parameter's axes
    and `v_row`/`v_col` are placeholders. Any other sub-tree shaped like the parameters (momentum of
    another optimiser) takes the parameter's axes; counters and scalars are replicated.
    """
    param_def = jax.tree.structure(params)
    flat_params = jax.tree.leaves(params)
    flat_specs = _spec_leaves(param_logical_specs)
    if len(flat_specs) != len(flat_params):
        raise ValueError("param_logical_specs must have one PartitionSpec per parameter")

    def like_params(x: Any) -> bool:
        return not hasattr(x, "shape") and jax.tree.structure(x) == param_def

    def per_param(tree: Any, kind: str) -> Any:
        leaves = [_stat_axes(kind, np.shape(s), np.shape(p), spec)
                  for s, p, spec in zip(jax.tree.leaves(tree), flat_params, flat_specs)]
        return jax.tree.unflatten(param_def, leaves)

    def derive(node: Any) -> Any:
        if isinstance(node, factorized.FactoredState):
            return factorized.FactoredState(count=PartitionSpec(), v_row=per_param(node.v_row, "v_row"),
                                            v_col=per_param(node.v_col, "v_col"), v=per_param(node.v, "v"))
        if like_params(node):
            return per_param(node, "same")
        return PartitionSpec()  # a counter or another scalar

    return jax.tree.map(derive, opt_state,
                        is_leaf=lambda x: isinstance(x, factorized.FactoredState) or like_params(x))


def _stat_axes(kind: str, stat_shape: tuple[int, ...], param_shape: tuple[int, ...],
               spec: PartitionSpec) -> PartitionSpec:
    """Axes of one statistic of a parameter of `param_shape` with logical `spec` (spec M82)."""
    axes = tuple(spec) + (None,) * (len(param_shape) - len(spec))
    dims = factorized._factored_dims(tuple(param_shape), True, MIN_DIM_SIZE_TO_FACTOR)  # noqa: SLF001
    if kind == "same" or (kind == "v" and dims is None):
        expected, out = param_shape, axes
    elif kind in ("v_row", "v_col") and dims is not None:
        d1, d0 = dims
        drop = d0 if kind == "v_row" else d1
        expected = tuple(n for i, n in enumerate(param_shape) if i != drop)
        out = tuple(a for i, a in enumerate(axes) if i != drop)
    else:  # the [1] placeholder optax keeps for the unused statistics
        expected, out = (1,), ()
    if tuple(stat_shape) != tuple(expected):
        raise ValueError(f"optimiser statistic {kind} of a {param_shape} parameter has shape {stat_shape}, "
                         f"expected {expected}: optax's Adafactor layout changed (spec M82)")
    return PartitionSpec(*out)
