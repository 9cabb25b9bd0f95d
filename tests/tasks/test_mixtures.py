"""Multi-task mixing (§3.5.2-§3.5.3; spec M63-M68, D110-D113): exact rates, sampled frequencies, config errors."""

from __future__ import annotations

import collections
import dataclasses
import functools
import math

import pytest
import seqio
import tensorflow as tf

from t5repro import config
from t5repro.tasks import mixtures
from t5repro.tasks.mixtures import MixtureConfig

VOCAB = seqio.PassThroughVocabulary(size=100)
FEATURES = {k: seqio.Feature(VOCAB, add_eos=False, dtype=tf.int32) for k in ("inputs", "targets")}
N_SAMPLES = 4000


def _dataset_fn(split: str, shuffle_files: bool, seed: int | None = None, *, task_id: int, n: int) -> tf.data.Dataset:
    example = {"inputs": tf.constant([task_id], tf.int32), "targets": tf.constant([task_id], tf.int32)}
    return tf.data.Dataset.from_tensors(example).repeat(n)


def _tiny_task(name: str, task_id: int, n: int) -> str:
    """An in-memory task of n identical examples tagged with task_id; its source knows its size."""
    source = seqio.FunctionDataSource(functools.partial(_dataset_fn, task_id=task_id, n=n), splits=["train"],
                                      num_input_examples={"train": n})
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(name, source=source, preprocessors=[], output_features=FEATURES, metric_fns=[])
    return name


SIZES = {"mix_test_small": 30, "mix_test_mid": 300, "mix_test_big": 3000}


@pytest.fixture(scope="module")
def tiny_tasks() -> dict[str, int]:
    """name -> task id; sizes in SIZES."""
    return {_tiny_task(name, i, n): i for i, (name, n) in enumerate(SIZES.items())}


def _frequencies(mixture_name: str, ids: dict[str, int]) -> dict[str, float]:
    ds = seqio.get_mixture_or_task(mixture_name).get_dataset(None, split="train", shuffle=False, seed=0)
    counts = collections.Counter(int(ex["inputs"][0]) for ex in ds.take(N_SAMPLES).as_numpy_iterator())
    assert sum(counts.values()) == N_SAMPLES
    return {name: counts[i] / N_SAMPLES for name, i in ids.items()}


def _assert_binomial(freq: dict[str, float], rates: dict[str, float]) -> None:
    for name, p in rates.items():
        sigma = math.sqrt(p * (1 - p) / N_SAMPLES)
        assert abs(freq[name] - p) <= 4.5 * sigma + 1e-12, (name, freq[name], p)


# ----------------------------------------------------------------- exact rates


def test_examples_proportional_rates_exact_d111():
    sizes = {"a": 100, "b": 1000, "c": 10**6, mixtures.UNSUPERVISED: math.inf}
    rates = mixtures.examples_proportional(sizes, K=1024)
    # min(e, K): 100, 1000, 1024, 1024 (the unbounded unsupervised task contributes exactly K)
    assert rates == {"a": 100 / 3148, "b": 1000 / 3148, "c": 1024 / 3148, mixtures.UNSUPERVISED: 1024 / 3148}
    assert mixtures.examples_proportional({"a": 2**16, "b": 2**20}, K=2**19) == {"a": 1 / 9, "b": 8 / 9}


def test_temperature_rates_exact_d112():
    sizes = {"a": 2**10, "b": 2**14, mixtures.UNSUPERVISED: math.inf}
    # K = 2^12 clips b and the unsupervised task to 4096; T = 2: sqrt -> 32, 64, 64 of 160
    assert mixtures.temperature_scaled(sizes, T=2, K=2**12) == {"a": 0.2, "b": 0.4, mixtures.UNSUPERVISED: 0.4}
    # the paper's K = 2^21 is the default; T = 1 is examples-proportional mixing at K = 2^21 (D112)
    assert mixtures.temperature_scaled({"a": 3, "b": 2**22}, T=1.0) == mixtures.examples_proportional(
        {"a": 3, "b": 2**22}, K=2**21)
    t8 = mixtures.temperature_scaled({"a": 2**8, "b": 2**16}, T=8)
    assert t8 == {"a": 2 / 6, "b": 4 / 6}  # 2^(8/8) = 2, 2^(16/8) = 4


def test_equal_rates_d113():
    assert mixtures.equal(["a", "b", "c", "d"]) == {k: 0.25 for k in "abcd"}
    cfg = MixtureConfig(strategy="equal", tasks=("a", "b", "c"), leave_out=("b",))
    assert mixtures.mixing_rates(cfg, {}) == {"a": 0.5, "c": 0.5}


@pytest.mark.parametrize("K,T", [(2**19, 1.0), (2**21, 2.0), (2**21, 4.0), (2**21, 8.0), (100, 1.0)])
def test_rate_equals_seqio_mixing_rate_num_examples(tiny_tasks, K, T):
    """The hand-written D110 rate is seqio.utils.mixing_rate_num_examples(maximum=K, temperature=T)."""
    for name in tiny_tasks:
        task = seqio.get_mixture_or_task(name)
        expected = seqio.utils.mixing_rate_num_examples(task, maximum=K, temperature=T)
        assert mixtures.example_rate(mixtures.num_examples(task), K=K, T=T) == expected


def test_num_examples_counts_a_source_without_a_size():
    source = seqio.FunctionDataSource(functools.partial(_dataset_fn, task_id=7, n=17), splits=["train"])
    name = "mix_test_unsized"
    if name in seqio.TaskRegistry.names():
        seqio.TaskRegistry.remove(name)
    task = seqio.TaskRegistry.add(name, source=source, preprocessors=[], output_features=FEATURES, metric_fns=[])
    assert task.num_input_examples("train") is None
    assert mixtures.num_examples(task) == 17


# ----------------------------------------------------------------- sampling through seqio.Mixture


def test_sampled_frequencies_match_rates(tiny_tasks):
    """Examples-proportional K=400 vs equal: both match their rates, and they differ (the strategy matters)."""
    names = tuple(tiny_tasks)
    proportional = MixtureConfig(strategy="examples_proportional", tasks=names, K=400)
    rates = mixtures.mixing_rates(proportional, SIZES)
    assert rates == {"mix_test_small": 30 / 730, "mix_test_mid": 300 / 730, "mix_test_big": 400 / 730}
    freq_p = _frequencies(mixtures.build_mixture(proportional), tiny_tasks)  # sizes read from the sources
    _assert_binomial(freq_p, rates)

    flat = MixtureConfig(strategy="equal", tasks=names)
    freq_e = _frequencies(mixtures.build_mixture(flat), tiny_tasks)
    _assert_binomial(freq_e, mixtures.equal(names))
    assert freq_e["mix_test_small"] > 5 * freq_p["mix_test_small"]  # a no-op strategy would fail here


def test_temperature_and_leave_one_out_sampling(tiny_tasks):
    names = tuple(tiny_tasks)
    cfg = MixtureConfig(strategy="temperature", tasks=names, K=2**21, T=2.0, leave_out=("mix_test_mid",))
    rates = mixtures.mixing_rates(cfg, SIZES)
    assert set(rates) == {"mix_test_small", "mix_test_big"}
    assert rates["mix_test_small"] == math.sqrt(30) / (math.sqrt(30) + math.sqrt(3000))
    name = mixtures.build_mixture(cfg)
    assert name.startswith("mix_temperature_K2097152_T2_minus_mix_test_mid_")
    other = dataclasses.replace(cfg, tasks=names + ("mix_test_unsized",))  # same limits, other members
    assert other.registry_name != name and other.registry_name.startswith("mix_temperature_K2097152_T2_minus_")
    assert {t.name for t in seqio.get_mixture_or_task(name).tasks} == {"mix_test_small", "mix_test_big"}
    freq = _frequencies(name, tiny_tasks)
    assert freq["mix_test_mid"] == 0.0
    _assert_binomial({k: freq[k] for k in rates}, rates)


def test_unbounded_task_gets_k_through_build_mixture(tiny_tasks):
    cfg = MixtureConfig(strategy="examples_proportional", tasks=("mix_test_small", "mix_test_big"), K=1000)
    name = mixtures.build_mixture(cfg, sizes={"mix_test_big": math.inf})  # as the unsupervised task (D111)
    mixture = seqio.get_mixture_or_task(name)
    rates = {t.name: mixture.get_rate(t) / mixture.total_rate for t in mixture.tasks}
    assert rates == {"mix_test_small": 30 / 1030, "mix_test_big": 1000 / 1030}


# ----------------------------------------------------------------- configuration


@pytest.mark.parametrize("kwargs,key", [
    (dict(strategy="examples_proportional", K=0), "mixture.K=0"),
    (dict(strategy="examples_proportional", K=None), "mixture.K is required"),
    (dict(strategy="temperature", K=2**21, T=0.0), "mixture.T=0.0"),
    (dict(strategy="temperature", K=2**21, T=-2.0), "mixture.T=-2.0"),
    (dict(strategy="examples_proportional", K=8, T=2.0), "mixture.T=2.0"),
    (dict(strategy="proportional", K=8), "mixture.strategy='proportional'.*examples_proportional"),
    (dict(strategy="equal", leave_out=("c",)), r"mixture.leave_out=\['c'\]"),
    (dict(strategy="equal", leave_out=("a", "b")), "removes every task"),
])
def test_bad_mixture_config_names_the_key(kwargs, key):
    with pytest.raises(config.ConfigError, match=key):
        MixtureConfig(tasks=("a", "b"), **kwargs)


def test_hydra_mixture_group_and_errors():
    cfg = config.load(["mixture=temperature", "mixture.T=8"])
    m = MixtureConfig.from_cfg(cfg.mixture)
    assert (m.strategy, m.K, m.T) == ("temperature", 2**21, 8.0)
    assert config.load([]).get("mixture") is None  # single-task runs have no mixture block
    with pytest.raises(config.ConfigError, match="mixture.K=0"):
        MixtureConfig.from_cfg(config.load(["mixture=examples_proportional", "mixture.K=0"]).mixture)
    with pytest.raises(config.ConfigError, match="mixture.strategy='uniform'"):
        MixtureConfig.from_cfg(config.load(["mixture=equal", "mixture.strategy=uniform"]).mixture)
    with pytest.raises(config.ConfigError, match="mixture.leave_out' is required"):
        MixtureConfig.from_cfg(config.load(["mixture=leave_one_out"]).mixture)
    with pytest.raises(config.ConfigError, match="unknown task 'smoke_clss'.*did you mean smoke_cls"):
        mixtures.check_tasks(MixtureConfig.from_cfg(
            config.load(["mixture=equal", "mixture.tasks=[unsupervised,smoke_clss]"]).mixture))
    with pytest.raises(config.ConfigError, match="unknown key.*mixture.foo"):
        MixtureConfig.from_cfg({"strategy": "equal", "tasks": ["a"], "foo": 1})


@pytest.mark.parametrize("name", ["examples_proportional", "temperature", "equal", "multitask_pretraining",
                                  "leave_one_out", "supervised_only"])
def test_every_mixture_file_is_valid(name):
    overrides = [f"mixture={name}"] + (["mixture.leave_out=smoke_gen"] if name == "leave_one_out" else [])
    m = MixtureConfig.from_cfg(config.load(overrides).mixture)
    mixtures.check_tasks(m)
    assert m.name == name
    if name in ("multitask_pretraining", "leave_one_out", "supervised_only"):  # §3.5.3: K = 2^19 (M66-M68)
        assert (m.strategy, m.K) == ("examples_proportional", 2**19)
    assert (mixtures.UNSUPERVISED in m.members) == (name != "supervised_only")  # M68: no unsupervised task
    if name == "leave_one_out":
        assert "smoke_gen" not in m.members and "smoke_gen" in m.tasks  # M67


def test_register_mixture_from_config(session_cfg):
    """unsupervised = the C4 pre-training task (unbounded: rate K); smoke tasks counted from their files."""
    cfg = config.load([f"io.c4_dir={session_cfg.io.c4_dir}", f"io.vocab_model={session_cfg.io.vocab_model}",
                       f"io.task_data_dir={session_cfg.io.task_data_dir}", "mixture=examples_proportional",
                       "mixture.K=100"])
    name = mixtures.register_mixture(cfg)
    mixture = seqio.get_mixture_or_task(name)
    members = [t.name for t in mixture.tasks]
    assert members == ["c4_iid_denoising", "smoke_cls", "smoke_gen"]
    rates = [mixture.get_rate(t) for t in mixture.tasks]
    # session data: 64 train examples per smoke task, C4 clipped to K = 100
    assert rates == [100 / 228, 64 / 228, 64 / 228]
    ds = mixture.get_dataset({"inputs": 64, "targets": 24}, split="train", shuffle=False, seed=0)
    for ex in ds.take(8).as_numpy_iterator():
        assert set(ex) == {"inputs", "targets"} and ex["targets"][-1] == 1  # shared features, EOS (D43)


@pytest.mark.parametrize("scale, supervised", [("smoke", ["smoke_cls", "smoke_gen"]),
                                               ("paper", ["sst2", "cnn_dailymail"])])
def test_mixture_members_follow_the_scale(scale, supervised):  # the scale's `supervised_tasks`
    for name, unsupervised in (("multitask_pretraining", True), ("supervised_only", False)):
        node = config.load([f"scale={scale}", f"mixture={name}"]).mixture
        assert list(node.tasks) == (["unsupervised"] if unsupervised else []) + supervised
        mixtures.check_tasks(MixtureConfig.from_cfg(node))  # every member has a conf/task file
