"""§3.5.1 fine-tuning methods (Table 10; spec M55-M62, M44, Q2, Q3) through the masks and the `finetune` stage.

One tiny pre-training run (stand-in Data modules, as in test_stages.py) is fine-tuned with each method; the
checkpoints of every fine-tuning step are compared leaf by leaf with the pre-trained state.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

from t5repro import config as config_lib
from t5repro.models import T5, T5Config, flops_per_example
from t5repro.train import finetune_methods as fm
from t5repro.train import stages
from t5repro.train.checkpoint import Checkpointer, load_params
from t5repro.train.optim import factored_state, make_optimizer
from t5repro.train.schedules import make_schedule
from t5repro.train.state import TrainState
from t5repro.train.trainer import TrainConfig, init_model_params, train
from tests.train.stand_in import data_modules

SPEC_STARTS = [0, 21846, 43691, 65536, 87382, 109227, 131072, 152918, 174763, 196608, 218454, 240299]
TINY = T5Config(vocab_size=128, d_model=16, d_ff=32, num_heads=2, d_kv=8, num_encoder_layers=2,
                num_decoder_layers=2)
PRE_STEPS = 2


def method(name, **kw):
    return OmegaConf.create({"name": name, **kw})


def shapes(config: T5Config):
    return jax.eval_shape(lambda: init_model_params(T5(config), jax.random.PRNGKey(0)))


def flat(tree) -> dict[str, object]:
    return {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def trainable_names(mask) -> set[str]:
    return {k for k, m in flat(mask).items() if m}


# ---------------------------------------------------------------------------------------------- schedule


def test_episode_starts_m60():
    T = 2**18
    assert fm.episode_starts(12, T) == SPEC_STARTS
    for e, s in enumerate(SPEC_STARTS):
        assert fm.episode(s, T, 12) == e
        if s:
            assert fm.episode(s - 1, T, 12) == e - 1
    assert fm.episode(T - 1, T, 12) == 11 and fm.episode(T + 5, T, 12) == 11
    # blocks with index >= L - 1 - e are trainable (M60)
    assert [12 - fm.unfrozen_blocks(e, 12, 12) for e in range(12)] == [11 - e for e in range(12)]


# ---------------------------------------------------------------------------------------------- masks


def test_all_params_mask_is_all_true_and_untouched_in_training():
    params = shapes(TINY)
    assert all(jax.tree.leaves(fm.trainable_mask(params, method("all_params"))))
    assert fm.mask_for_training(params, method("all_params"), total_steps=10) is None  # plain Adafactor


def test_adapters_mask_m58_and_q2_switch():
    params = shapes(TINY.replace(adapter_dim=4))
    names = set(flat(params))
    adapter = {k for k in names if "'adapter'" in k or "pre_adapter_layer_norm" in k}
    norms = {k for k in names if "layer_norm" in k}
    assert len(adapter) == 4 * 3 and len(norms) == 2 * 2 + 2 * 3 + 2 + 4  # + the 4 adapter norms
    assert trainable_names(fm.trainable_mask(params, method("adapters", adapter_dim=4, train_layer_norms=True))) \
        == adapter | norms
    gin = trainable_names(fm.trainable_mask(params, method("adapters", adapter_dim=4, train_layer_norms=False)))
    assert gin == adapter  # task_adapter.gin: only variables named task_adapter
    with pytest.raises(ValueError, match="no adapter parameters"):
        fm.trainable_mask(shapes(TINY), method("adapters", adapter_dim=4))


@pytest.mark.parametrize("bad,key", [(method("adapters", adapter_dim=0), "finetune_method.adapter_dim"),
                                     (method("adapters", adapter_dim=-3), "finetune_method.adapter_dim"),
                                     (method("adapters", adapter_dim=None), "finetune_method.adapter_dim"),
                                     (method("bogus"), "finetune_method.name"),
                                     (method("gradual_unfreezing", num_episodes=0), "finetune_method.num_episodes")])
def test_bad_method_config_is_a_config_error_naming_the_key(bad, key):
    with pytest.raises(config_lib.ConfigError, match=key.replace(".", r"\.")):
        fm.model_config(TINY, bad)


def expected_unfreezing(names: set[str], top_blocks: dict[str, set[int]]) -> set[str]:
    out = set()
    for k in names:
        if k.startswith("['token_embedder']") or "final_layer_norm" in k:
            out.add(k)
        for stack, blocks in top_blocks.items():
            if any(k.startswith(f"['{stack}']['layers_{i}']") for i in blocks):
                out.add(k)
    return out


def test_gradual_unfreezing_mask_m60_m61_q3():
    cfg = TINY.replace(num_encoder_layers=4, num_decoder_layers=4)
    params = shapes(cfg)
    names = set(flat(params))
    gu = method("gradual_unfreezing", num_episodes=None)
    sched = fm.mask_for_training(params, gu, total_steps=10)
    assert sched.num_episodes == 4 and sched.starts() == [0, 3, 5, 8]
    for s in range(10):
        e = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3][s]
        blocks = set(range(3 - e, 4))
        want = expected_unfreezing(names, {"encoder": blocks, "decoder": blocks})
        assert trainable_names(sched(s)) == want == trainable_names(
            fm.trainable_mask(params, gu, step=s, total_steps=10))
        rel = [k for k in trainable_names(sched(s)) if "relpos_bias" in k]
        assert bool(rel) == (e == 3)  # rel_bias owned by block 0: only in the last episode (Q3)
        assert sched(s) is sched([0, 3, 5, 8][e])  # one mask object per episode: one compilation each
    # fewer episodes than blocks: ceil((e+1) L / E) top blocks
    two = fm.mask_for_training(params, method("gradual_unfreezing", num_episodes=2), total_steps=10)
    assert trainable_names(two(0)) == expected_unfreezing(names, {"encoder": {2, 3}, "decoder": {2, 3}})
    assert all(jax.tree.leaves(two(9)))


# ---------------------------------------------------------------------------------------------- stage runs


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """Stand-in Data modules (as test_stages.fake_data, module-scoped) and one finished tiny pre-training."""
    mp = pytest.MonkeyPatch()
    for name, mod in data_modules().items():
        mp.setitem(sys.modules, name, mod)
    root = tmp_path_factory.mktemp("ftm")
    cfg = make_cfg(root, "ft")
    stages.pretrain(cfg)
    pre, meta = load_params(root / "pre", like(cfg, finetuning=False))
    yield root, pre, meta
    mp.undo()


def make_cfg(root, name, *extra):
    return config_lib.load([f"io.vocab_model={root / 'spm.model'}", f"io.pretrain_dir={root / 'pre'}",
                            f"io.finetune_dir={root / name}", f"pretrain.steps={PRE_STEPS}",
                            "pretrain.checkpoint_period=10", "pretrain.log_every=10", "finetune.steps=4",
                            "finetune.checkpoint_period=1", "finetune.log_every=1", "model.d_model=32",
                            "model.d_ff=64", "model.num_heads=2", "model.d_kv=16", *extra])


def like(cfg, *, finetuning: bool = True) -> TrainState:
    model = stages.build_model(cfg, finetuning=finetuning)
    tx = make_optimizer(make_schedule(TrainConfig.from_cfg(cfg.finetune)))
    return jax.eval_shape(lambda: TrainState.create(p := init_model_params(model, jax.random.PRNGKey(0)),
                                                    tx.init(p)))


def ft_states(cfg) -> list[TrainState]:
    """States after fine-tuning steps 1..4 (every step is checkpointed)."""
    ckpt = Checkpointer(cfg.io.finetune_dir, period=1)
    try:
        assert ckpt.all_steps() == [1, 2, 3, 4]
        return [ckpt.restore(like(cfg), s)[0] for s in (1, 2, 3, 4)]
    finally:
        ckpt.close()


def stats(state: TrainState) -> dict[str, dict[str, np.ndarray]]:
    """Adafactor statistics per parameter path: {param: {v_row, v_col, v}} (M41)."""
    fs = factored_state(state.opt_state)
    out: dict[str, dict[str, np.ndarray]] = {}
    for field in ("v_row", "v_col", "v"):
        for k, x in flat(getattr(fs, field)).items():
            out.setdefault(k, {})[field] = np.asarray(x)
    return out


def changed(a: TrainState, b: TrainState, keys=None) -> set[str]:
    fa, fb = flat(a.params), flat(b.params)
    return {k for k in (keys or fa) if not np.array_equal(np.asarray(fa[k]), np.asarray(fb[k]))}


def assert_stats_equal(a: TrainState, b: TrainState, keys) -> None:
    sa, sb = stats(a), stats(b)
    for k in keys:
        for field in ("v_row", "v_col", "v"):
            np.testing.assert_array_equal(sa[k][field], sb[k][field], err_msg=f"{k} {field}")


def test_finetune_adapters_trains_exactly_adapters_and_norms(pretrained):
    root, pre, meta = pretrained
    cfg = make_cfg(root, "ft_adapters", "finetune_method=adapters", "finetune_method.adapter_dim=8")
    stages.finetune(cfg)
    summary = json.loads((root / "ft_adapters" / "summary.json").read_text())
    assert summary["start_step"] == PRE_STEPS and summary["global_step"] == PRE_STEPS + 4
    # M89: model FLOP/s count the adapters' matmuls too (M30's FFN term with f = d_A, per block and token)
    lengths = cfg.task.sequence_length
    with_adapters = flops_per_example(stages.build_model(cfg, finetuning=True).config, lengths.inputs,
                                      lengths.targets)["training"]
    assert with_adapters > flops_per_example(stages.build_model(cfg).config, lengths.inputs,
                                             lengths.targets)["training"]
    assert summary["model_tflops_per_s"] * 1e12 / summary["examples_per_s"] == pytest.approx(with_adapters)
    record = json.loads((root / "ft_adapters" / "metadata.json").read_text())["finetune_method"]
    assert record["adapter_dim"] == 8 and record["train_layer_norms"] is True
    states = ft_states(cfg)
    last = states[-1]
    names = set(flat(last.params))
    pre_names = set(flat(pre.params))
    adapter = names - pre_names
    assert len(adapter) == 12 and all("adapter" in k for k in adapter)
    norms = {k for k in pre_names if "layer_norm" in k}
    fresh = init_model_params(stages.build_model(cfg, finetuning=True),
                              jax.random.split(jax.random.PRNGKey(int(cfg.seed)))[0])
    # the adapter started from the seeded FFN-like init and moved
    first = flat(states[0].params)
    assert {k for k in adapter if not np.array_equal(first[k], flat(fresh)[k])} != set()
    assert changed(last, TrainState.create(fresh, None), adapter) == adapter
    # everything of the pre-trained model except the norms is bit-identical, all norms moved
    fl, fp = flat(last.params), flat(pre.params)
    moved = {k for k in pre_names if not np.array_equal(np.asarray(fl[k]), np.asarray(fp[k]))}
    assert moved == norms, sorted(moved ^ norms)
    # frozen parameters' Adafactor statistics are the pre-training values (M44); trained ones moved
    frozen = pre_names - norms
    assert_stats_equal(last, pre, frozen)
    s_last, s_pre = stats(last), stats(pre)
    for k in norms:
        assert not np.array_equal(s_last[k]["v"], s_pre[k]["v"]), k
    for k in adapter:  # fresh statistics for the new parameters, then trained
        assert any(np.any(v != 0) for v in s_last[k].values()), k
    assert int(factored_state(last.opt_state).count) == PRE_STEPS + 4  # shared counter continues (M42, M44)


def test_finetune_gradual_unfreezing_unfreezes_per_episode(pretrained):
    root, pre, meta = pretrained
    cfg = make_cfg(root, "ft_gu", "finetune_method=gradual_unfreezing")
    stages.finetune(cfg)
    record = json.loads((root / "ft_gu" / "metadata.json").read_text())["finetune_method"]
    assert record["num_episodes"] == 2 and record["episode_starts"] == [0, 2]
    states = ft_states(cfg)
    names = set(flat(pre.params))
    ep0 = expected_unfreezing(names, {"encoder": {1}, "decoder": {1}})
    ep1 = names
    assert ep0 and ep0 != ep1
    prev = pre
    for step, (state, want) in enumerate(zip(states, (ep0, ep0, ep1, ep1)), start=1):
        got = changed(state, prev)
        assert got == want, (step, sorted(got ^ want))
        assert_stats_equal(state, prev, names - want)  # M44: frozen statistics untouched
        prev = state

    # resume mid-way (episode 0 -> 1) is bit-identical to the run in one go
    model = stages.build_model(cfg, finetuning=True)
    tcfg = TrainConfig.from_cfg(cfg.finetune)
    mask = fm.mask_for_training(pre.params, cfg.finetune_method, total_steps=tcfg.steps)

    def run(total):
        batches = sys.modules["t5repro.data"].get_batches(
            "x", split="train", sequence_length=dict(cfg.task.sequence_length), batch_size=tcfg.batch_size,
            pack=True, seed=int(cfg.seed))
        return train(model=model, train_cfg=tcfg, batches=batches, workdir=root / "gu_resume", seed=int(cfg.seed),
                     init_state=TrainState.create(pre.params, pre.opt_state), start_step=int(meta["global_step"]),
                     trainable_mask=mask, total_steps=total)

    run(1)
    run(None)
    ckpt = Checkpointer(root / "gu_resume", period=1)
    try:
        resumed = ckpt.restore(like(cfg))[0]
    finally:
        ckpt.close()
    for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(states[-1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_finetune_all_params_unchanged(pretrained):
    root, pre, meta = pretrained
    cfg = make_cfg(root, "ft_all", "experiment=table10/all_params")
    assert cfg.experiment_name == "all_params"
    stages.finetune(cfg)
    last = ft_states(cfg)[-1]
    assert changed(last, pre) == set(flat(pre.params))  # every parameter trains
    # same as plain train() with no mask from the pre-trained state
    tcfg = TrainConfig.from_cfg(cfg.finetune)
    batches = sys.modules["t5repro.data"].get_batches(
        "x", split="train", sequence_length=dict(cfg.task.sequence_length), batch_size=tcfg.batch_size,
        pack=True, seed=int(cfg.seed))
    train(model=stages.build_model(cfg), train_cfg=tcfg, batches=batches, workdir=root / "all_direct",
          seed=int(cfg.seed), init_state=TrainState.create(pre.params, pre.opt_state),
          start_step=int(meta["global_step"]))
    ckpt = Checkpointer(root / "all_direct", period=1)
    try:
        direct = ckpt.restore(like(cfg))[0]
    finally:
        ckpt.close()
    for a, b in zip(jax.tree.leaves(direct), jax.tree.leaves(last)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("exp", ["adapters_32", "adapters_128", "adapters_512", "adapters_2048",
                                 "gradual_unfreezing", "all_params"])
def test_table10_experiment_files(exp):
    cfg = config_lib.load([f"experiment=table10/{exp}"])
    assert cfg.experiment_name == exp
    name = fm.method_name(cfg.finetune_method)
    assert name == ("adapters" if exp.startswith("adapters") else exp)
    if name == "adapters":
        assert fm.adapter_dim(cfg.finetune_method) == int(exp.split("_")[1])
        assert cfg.finetune_method.train_layer_norms is True
    if name == "gradual_unfreezing":
        assert cfg.finetune_method.num_episodes is None


def test_finetune_stage_rejects_bad_method_config(pretrained):
    root, _, _ = pretrained
    with pytest.raises(config_lib.ConfigError, match=r"finetune_method\.adapter_dim"):
        stages.finetune(make_cfg(root, "ft_bad", "finetune_method=adapters", "finetune_method.adapter_dim=0"))
    with pytest.raises(config_lib.ConfigError, match=r"finetune_method\.name"):
        stages.finetune(make_cfg(root, "ft_bad", "finetune_method.name=bogus"))
    assert not (root / "ft_bad").exists()
