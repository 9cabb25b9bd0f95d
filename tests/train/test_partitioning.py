"""Partitioning and mixed precision (spec model.md §1.7 M24, §6 M78-M86).

In-process tests (one CPU device) cover the rules, the divisibility errors, the Adafactor state layout
and the dtypes. The sharded-equals-unsharded test needs 8 devices, which XLA only fakes when
`XLA_FLAGS=--xla_force_host_platform_device_count=8` is set before jax starts, so it runs this module
as a script in a subprocess (`main()` below) and checks its exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from jax.sharding import AbstractMesh, PartitionSpec as P

from t5repro import config as config_lib
from t5repro.config import ConfigError
from t5repro.models import T5, T5Config
from t5repro.train import partitioning
from t5repro.train.checkpoint import Checkpointer
from t5repro.train.optim import factored_state
from t5repro.train.partitioning import Partitioner, PartitioningConfig, logical_axis_rules
from t5repro.train.trainer import TrainConfig, fresh_state, make_train_step, state_layout
from tests.train.stand_in import packed_batch

ROOT = Path(__file__).resolve().parents[2]
DEVICES = 8
# The smallest T5 whose wi/wo/attention kernels are factored by Adafactor (second-largest dim >= 128,
# M41), with h = 4, H = 128, f = 256 and V = 256 all divisible by n_model = 4 (M81). Dropout stays on:
# M83 says its masks must not depend on the layout.
CONFIG = T5Config(vocab_size=256, d_model=128, d_ff=256, num_heads=4, d_kv=32, num_encoder_layers=1,
                  num_decoder_layers=1, dropout_rate=0.1)
RECIPE = TrainConfig(steps=3, batch_size=8, sequence_length={"inputs": 16, "targets": 8}, checkpoint_period=2,
                     log_every=1)
SEED = 5
# M83: across meshes only the floating-point reduction order differs (matmul partial sums over 'model', the
# batch mean over 'data'): float32 rounding, ~1e-7 relative per reduction. After three Adafactor steps the
# measured parameter difference is <= 5e-7 relative (losses <= 1.5e-6 absolute). 2e-5 leaves a 40x margin
# and is still ~500x below one update (lr 0.01 x RMS(theta) x a unit-RMS direction), so a wrong layout, a
# dropped gradient shard or a layout-dependent dropout mask fails the test.
RTOL, ATOL = 2e-5, 2e-6


def abstract(n_data: int, n_model: int, dims: int = 1) -> Partitioner:
    """A partitioner over an abstract mesh: enough for the rules and checks without 8 real devices."""
    return Partitioner(AbstractMesh((n_data, n_model), partitioning.MESH_AXES), logical_axis_rules(dims))


def tiny_logical() -> tuple[object, object]:
    boxed = jax.eval_shape(lambda: T5(CONFIG).init({"params": jax.random.PRNGKey(0)}, jnp.ones((1, 1), jnp.int32),
                                                   jnp.ones((1, 1), jnp.int32), deterministic=True))["params"]
    return nn.unbox(boxed), nn.get_partition_spec(boxed)


# ------------------------------------------------------------------------------------------------ rules


def test_logical_axis_rules_m79_m80():
    one = dict(logical_axis_rules(1))
    assert one == {"batch": "data", "vocab": "model", "mlp": "model", "heads": "model", "joined_kv": "model",
                   "kv": None, "embed": None, "relpos_buckets": None, "length": None}
    two = dict(logical_axis_rules(2))
    assert two == {**one, "embed": "data"}  # M80: ZeRO-3-like parameter sharding
    with pytest.raises(ConfigError, match="partitioning.parameter_partitioning_dims"):
        logical_axis_rules(3)


def test_parameter_specs_follow_m79():
    params, logical = tiny_logical()
    specs = abstract(4, 2).mesh_specs(logical)
    assert specs["token_embedder"]["embedding"] == P("model", None)  # vocab -> model, embed replicated
    enc = specs["encoder"]["layers_0"]
    assert enc["mlp"]["wi"]["kernel"] == P(None, "model") and enc["mlp"]["wo"]["kernel"] == P("model", None)
    assert enc["self_attention"]["query"]["kernel"] == P(None, "model")  # (embed, joined_kv)
    assert enc["self_attention"]["out"]["kernel"] == P("model", None)    # (joined_kv, embed)
    assert enc["self_attention"]["relpos_bias"]["rel_embedding"] == P("model", None)  # heads -> model
    assert enc["pre_mlp_layer_norm"]["scale"] == P(None)
    two = abstract(4, 2, dims=2).mesh_specs(logical)["encoder"]["layers_0"]
    assert two["mlp"]["wi"]["kernel"] == P("data", "model") and two["pre_mlp_layer_norm"]["scale"] == P("data")


def test_unknown_logical_axis_is_an_error_not_silent_replication():
    with pytest.raises(ValueError, match="'embd'.*no partitioning rule"):
        abstract(1, 1).mesh_specs({"w": P("embd", "mlp")})


def test_adafactor_statistics_inherit_kept_axes_m82():
    params, logical = tiny_logical()
    from t5repro.train.optim import make_optimizer
    from t5repro.train.schedules import rsqrt

    opt = jax.eval_shape(make_optimizer(rsqrt(10_000)).init, params)
    axes = factored_state(partitioning.opt_state_logical_axes(opt, params, logical))
    wi = ("encoder", "layers_0", "mlp", "wi", "kernel")  # [128 embed, 256 mlp]: d0 = mlp, d1 = embed

    def at(tree, path):
        for k in path:
            tree = tree[k]
        return tree

    assert at(axes.v_row, wi) == P("embed") and at(axes.v_col, wi) == P("mlp") and at(axes.v, wi) == P()
    emb = ("token_embedder", "embedding")  # [256 vocab, 128 embed]: d0 = vocab, so v_row keeps embed
    assert at(axes.v_row, emb) == P("embed") and at(axes.v_col, emb) == P("vocab")
    rel = ("encoder", "layers_0", "self_attention", "relpos_bias", "rel_embedding")  # [4, 32]: not factored
    assert at(axes.v, rel) == P("heads", "relpos_buckets") and at(axes.v_row, rel) == P()
    assert axes.count == P()


# ------------------------------------------------------------------------------------- config and errors


def test_partitioning_config_block_and_reference_degrees_m78():
    assert PartitioningConfig.from_cfg(config_lib.load([]).partitioning) == PartitioningConfig(1, 1)
    for size, n_model in {"small": 1, "base": 1, "large": 2, "3b": 8, "11b": 32}.items():
        assert config_lib.load([f"model={size}"]).partitioning.model_parallelism == n_model, size
    cfg = config_lib.load(["model=large", "partitioning.model_parallelism=4",
                           "partitioning.parameter_partitioning_dims=2"])
    assert PartitioningConfig.from_cfg(cfg.partitioning) == PartitioningConfig(4, 2)
    with pytest.raises(ConfigError, match="partitioning.model_paralelism"):
        config_lib.load(["partitioning.model_paralelism=2"])


@pytest.mark.parametrize("block, key", [({"model_parallelism": 0}, "partitioning.model_parallelism"),
                                        ({"model_parallelism": 1.5}, "partitioning.model_parallelism"),
                                        ({"parameter_partitioning_dims": 3},
                                         "partitioning.parameter_partitioning_dims"),
                                        ({"model_paralelism": 2}, "partitioning.model_paralelism")])
def test_bad_partitioning_config_names_the_key(block, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        PartitioningConfig.from_cfg(block)


def test_divisibility_errors_name_the_config_key_m81():
    cpu = jax.devices()[:1]
    with pytest.raises(ConfigError, match=r"partitioning\.model_parallelism=2 must divide the device count 1"):
        partitioning.make_mesh(2, cpu)
    with pytest.raises(ConfigError, match=r"pretrain\.batch_size=6 .* n_data=4"):
        abstract(4, 2).check_batch_size(6, key="pretrain.batch_size")
    abstract(4, 2).check_batch_size(8, key="pretrain.batch_size")
    params, logical = tiny_logical()
    abstract(2, 4).check_divisible(params, logical)  # h = 4, H = 128, f = 256, V = 256 all split 4 ways
    with pytest.raises(ConfigError, match=r"(?s)rel_embedding.*'heads', size 4.*partitioning\.model_parallelism"):
        abstract(1, 8).check_divisible(params, logical)  # h = 4 heads over 8 (M81)
    with pytest.raises(ConfigError, match=r"'embed', size 128\) over data=256 \(partitioning\.parameter_partitioning"):
        abstract(256, 1, dims=2).check_divisible(params, logical)


def test_one_device_mesh_is_1x1():
    part = Partitioner.create(None)
    assert dict(part.mesh.shape) == {"data": 1, "model": 1} and part.batch_sharding.spec == P("data")


# ------------------------------------------------------------------------------------ mixed precision


def test_bfloat16_compute_keeps_float32_params_state_logits_and_loss_m24():
    model = T5(CONFIG.replace(dtype="bfloat16"))
    part = Partitioner.create(None)
    state = fresh_state(model, RECIPE, part, SEED)
    batch = packed_batch(0, batch_size=8, inputs=16, targets=8, vocab=256)
    variables = {"params": state.params}  # dtypes by abstract evaluation: no extra compilation
    encoded = jax.eval_shape(lambda v: model.apply(v, batch["encoder_input_tokens"], method=T5.encode), variables)
    assert encoded.dtype == jnp.bfloat16  # activations in bfloat16 ...
    logits = jax.eval_shape(lambda v: model.apply(v, batch["encoder_input_tokens"], batch["decoder_input_tokens"],
                                                  deterministic=True), variables)
    assert logits.dtype == jnp.float32  # ... logits float32 (M12)
    new, metrics = make_train_step(model, RECIPE, None, part)(state, part.shard_batch(batch),
                                                             jax.random.PRNGKey(0), jnp.asarray(0, jnp.int32))
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))  # M34-M37
    float_leaves = [x for x in jax.tree.leaves((new.params, new.opt_state)) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert float_leaves and {x.dtype for x in float_leaves} == {jnp.dtype(jnp.float32)}  # M24, M43
    assert not np.array_equal(np.asarray(new.params["encoder"]["layers_0"]["mlp"]["wi"]["kernel"]),
                              np.asarray(state.params["encoder"]["layers_0"]["mlp"]["wi"]["kernel"]))


# ------------------------------------------------------------------------ 8 fake devices, in a subprocess


@pytest.mark.slow  # ~40 s on 2 idle cores: five meshes, each compiling an init and a train step
def test_sharded_train_step_equals_unsharded_m82_m83_m86():
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.train.test_partitioning"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["meshes"] == ["8x1", "4x2", "2x4", "4x2/2d"] and report["restored_across_meshes"]


def _shard_shape(x: jax.Array) -> tuple[int, ...]:
    return tuple(x.addressable_shards[0].data.shape)


def _at(tree, path: str):
    for k in path.split("/"):
        tree = tree[k]
    return tree


def _assert_close(a, b, what: str) -> None:
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=RTOL, atol=ATOL,
                                   err_msg=f"{what} {jax.tree_util.keystr(path)}")


def main() -> None:
    """The subprocess: 8 CPU devices; prints a JSON line last; any failed assertion exits non-zero."""
    jax.config.update("jax_disable_most_optimizations", True)  # compile-bound, as tests/train/conftest.py
    assert jax.device_count() == DEVICES, jax.devices()
    model = T5(CONFIG)
    batches = [packed_batch(i, batch_size=8, inputs=16, targets=8, vocab=256) for i in range(RECIPE.steps)]
    root, start = jax.random.PRNGKey(11), jnp.asarray(0, jnp.int32)

    def run(part: Partitioner):
        state = fresh_state(model, RECIPE, part, SEED)
        init = state
        step = make_train_step(model, RECIPE, None, part)
        losses = []
        for b in batches:
            state, m = step(state, part.shard_batch(b), root, start)
            losses.append(float(m["loss"]))
        return init, state, losses

    # the unsharded reference: one device, a 1 x 1 mesh (what a single CPU or GPU runs)
    ref_init, ref, ref_losses = run(Partitioner.create(None, devices=jax.devices()[:1]))
    assert ref_losses[-1] < ref_losses[0], ref_losses
    names = []
    for n_model, dims in ((1, 1), (2, 1), (4, 1), (2, 2)):
        part = Partitioner.create({"model_parallelism": n_model, "parameter_partitioning_dims": dims})
        name = f"{part.n_data}x{part.n_model}" + ("/2d" if dims == 2 else "")
        names.append(name)
        init, state, losses = run(part)
        # M83 / threefry_partitionable: the sharded init draws exactly the unsharded numbers
        for x, y in zip(jax.tree.leaves(init.params), jax.tree.leaves(ref_init.params)):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{name} init")
        np.testing.assert_allclose(losses, ref_losses, rtol=RTOL, err_msg=f"{name} losses")
        _assert_close(state.params, ref.params, f"{name} params")
        _assert_close(state.opt_state, ref.opt_state, f"{name} opt_state")
        # M79 / M80 / M82: the arrays really are split as the rules say
        p, fs = state.params, factored_state(state.opt_state)
        wi = "encoder/layers_0/mlp/wi/kernel"
        emb, rel = "token_embedder/embedding", "encoder/layers_0/self_attention/relpos_bias/rel_embedding"
        embed_axis, d = ("data", part.n_data) if dims == 2 else (None, 1)
        m = part.n_model
        assert _at(p, emb).sharding.spec == P("model", embed_axis) and _shard_shape(_at(p, emb)) == (256 // m, 128 // d)
        assert _at(p, wi).sharding.spec == P(embed_axis, "model") and _shard_shape(_at(p, wi)) == (128 // d, 256 // m)
        assert _at(p, rel).sharding.spec == P("model", None) and _shard_shape(_at(p, rel)) == (4 // m, 32)
        v_col, v_row = _at(fs.v_col, wi), _at(fs.v_row, wi)  # [256] keeps mlp, [128] keeps embed
        assert v_col.sharding.spec == P("model") and _shard_shape(v_col) == (256 // m,), name
        assert v_row.sharding.spec == P(embed_axis) and _shard_shape(v_row) == (128 // d,), name
        assert part.shard_batch(batches[0])["encoder_input_tokens"].sharding.spec == P("data")
        dparam = max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)) / (np.abs(np.asarray(y)) + ATOL / RTOL)))
                     for x, y in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref.params)))
        print(name, "max |dloss|", float(np.max(np.abs(np.subtract(losses, ref_losses)))), "max param rel. diff",
              dparam, file=sys.stderr)

    # M86: a checkpoint written on one mesh (the last one above, 4 x 2 with 2-D parameters) restores onto
    # others, exactly (restoring does no arithmetic), laid out as the new mesh's rules say.
    saved = state
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Checkpointer(tmp, period=1, async_save=False)
        try:
            ckpt.save(saved, {"step": RECIPE.steps})
            for n_model in (4, 1):
                layout = state_layout(model, RECIPE, Partitioner.create({"model_parallelism": n_model}))
                restored, meta = ckpt.restore(layout.abstract, shardings=layout.shardings)
                assert meta["step"] == RECIPE.steps
                for x, y, sh in zip(jax.tree.leaves(restored), jax.tree.leaves(saved),
                                    jax.tree.leaves(layout.shardings)):
                    assert x.sharding == sh
                    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
                wi = _at(restored.params, "encoder/layers_0/mlp/wi/kernel")
                assert _shard_shape(wi) == (128, 256 // n_model), n_model
        finally:
            ckpt.close()
    print(json.dumps({"meshes": names, "restored_across_meshes": True}))


if __name__ == "__main__":
    main()
