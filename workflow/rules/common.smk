# Validation, constants and input functions shared by every rule file. No rules here (STYLE.md §4).
import functools
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

SCALE = config["scale"]
EXPERIMENTS = config["experiments"]
TABLES = config["tables"]
REPO = Path(workflow.basedir)
TFDS_DIR = "resources/tfds"  # TFDS data_dir of the paper-scale tasks (rule tfds_prepare)


@functools.lru_cache(maxsize=None)  # composing the Hydra config takes ~50 ms; the paper DAG asks thousands of times
def composed(*overrides):
    """The Hydra config (conf/) composed with these overrides, once per distinct set of overrides."""
    from t5repro import config as t5_config

    return t5_config.load(list(overrides))


@functools.lru_cache(maxsize=None)
def config_digest(*overrides):
    """sha256 of the resolved Hydra config a job runs with (io paths excluded).

    Passed to rules as a param, so Snakemake's params rerun trigger reruns exactly the jobs whose
    configuration changed when a file under conf/ is edited.
    """
    import hashlib

    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(composed(*overrides), resolve=True)
    resolved.pop("io", None)
    return hashlib.sha256(repr(sorted(resolved.items())).encode()).hexdigest()[:16]


def stage_digest(*keys):
    """A params function: config_digest of scale/experiment/task overrides taken from the wildcards."""

    def digest(wildcards):
        names = {"scale": "scale", "exp": "experiment", "task": "task"}
        return config_digest(*(f"{names[k]}={wildcards[k]}" for k in keys))

    return digest


def data_dir():
    """Offline copies of Punkt and the bad-words list: config, then $T5REPRO_DATA, then ../shared/data."""
    d = config.get("data_dir") or os.environ.get("T5REPRO_DATA") or str(REPO.parent / "shared" / "data")
    return str(Path(d).resolve())


def paper_dir():
    """The paper's numbers (shared/paper): config, else <data_dir>/../paper."""
    return str(Path(config.get("paper_dir") or Path(data_dir()).parent / "paper").resolve())


def tasks(scale):
    return config["scales"][scale]["tasks"]


def final_outputs(scale):
    """What a full build produces: each table in three formats plus the loss-curve figure.

    The tables gather every scale found under results/ (one row per scale); their inputs are the runs of
    the configured scale, so `smoke` is the same target as `all` at the default `scale: smoke`.
    """
    if scale != SCALE:
        raise WorkflowError(f"target for scale {scale!r} requested while config scale is {SCALE!r}; "
                            f"run with --config scale={scale}")
    out = []
    for table in TABLES:
        out += [f"reports/{table}.md", f"reports/{table}.csv", f"reports/{table}.tex"]
    out += ["reports/figures/loss_curve.png", "reports/figures/loss_curve.pdf"]
    # Table 3 shows each objective's input/target on the paper's sentence: no training, so always built.
    out += ["reports/table03_objectives.md", "reports/table03_objectives.csv"]
    out += ["reports/c4_stats.md", "reports/figures/c4_funnel.png"]
    return out


def eval_jsons(scale):
    return [f"results/{scale}/eval/{exp}/{task}.json" for exp in EXPERIMENTS for task in tasks(scale)]


@functools.lru_cache(maxsize=None)
def pretraining_owners(scale):
    """{experiment: the experiment whose pre-training it reuses}: rows whose pre-training configs agree
    (every Table 10 row, Table 6's 15 %, ...) share one pretrain job (t5repro.experiments)."""
    from t5repro import experiments

    return experiments.shared_pretraining(list(EXPERIMENTS), scale,
                                          load=lambda exp: composed(f"scale={scale}", f"experiment={exp}"))


def pretrain_exp(scale, exp):
    return pretraining_owners(scale).get(exp, exp)


def pretrain_per_task(scale, exp):
    """Leave-one-out (§3.5.3, M67): each task has its own pre-training run (rule pretrain_task)."""
    return bool(experiment_value(scale, exp, "pretrain_per_task"))


def _pretrain_run(wildcards):
    if pretrain_per_task(wildcards.scale, wildcards.exp):
        return f"{wildcards.exp}/{wildcards.task}"
    return pretrain_exp(wildcards.scale, wildcards.exp)


def pretrain_summary(wildcards):
    return f"results/{wildcards.scale}/pretrain/{_pretrain_run(wildcards)}/summary.json"


def pretrain_workdir(wildcards):
    return f"work/{wildcards.scale}/pretrain/{_pretrain_run(wildcards)}"


def pretrain_c4(wildcards):
    """C4 as text, or as token ids written once by rule c4_tokenize when the run sets data.pretokenized."""
    out = {"c4": f"results/{wildcards.scale}/c4/en"}
    if experiment_value(wildcards.scale, wildcards.exp, "data.pretokenized"):
        out["tokenized"] = f"results/{wildcards.scale}/c4_tokenized/en"
    return out


def mixture_task_inputs(wildcards):
    """The supervised tasks' data that a mixture pre-training reads (§3.5.3); nothing for C4 alone."""
    names = [t for t in (experiment_value(wildcards.scale, wildcards.exp, "mixture.tasks") or [])
             if t != "unsupervised"]
    if not names:
        return []
    if wildcards.scale == "smoke":
        return ["results/smoke/taskdata"]
    return [f"{TFDS_DIR}/{t}.prepared" for t in names]


def experiment_value(scale, exp, key):
    """One value of an experiment's resolved Hydra config at a scale (e.g. `multitask_training`)."""
    from omegaconf import OmegaConf

    return OmegaConf.select(composed(f"scale={scale}", f"experiment={exp}"), key)


def multitask_training(wildcards):
    """§3.5.2 multi-task training (M63): tasks are evaluated on the mixture run's checkpoints, not fine-tuned."""
    return bool(experiment_value(wildcards.scale, wildcards.exp, "multitask_training"))


def evaluated_summary(wildcards):
    if multitask_training(wildcards):
        return pretrain_summary(wildcards)
    return f"results/{wildcards.scale}/finetune/{wildcards.exp}/{wildcards.task}/summary.json"


def evaluated_workdir(wildcards):
    if multitask_training(wildcards):
        return pretrain_workdir(wildcards)
    return f"work/{wildcards.scale}/finetune/{wildcards.exp}/{wildcards.task}"


def table_eval_jsons(wildcards):
    """The eval JSONs of the configured experiments that feed `wildcards.table` (tableNN_* <- tableNN/*)."""
    prefix = wildcards.table.split("_", 1)[0] + "/"
    return [f"results/{SCALE}/eval/{exp}/{task}.json" for exp in EXPERIMENTS if exp.startswith(prefix)
            for task in tasks(SCALE)]


def pretrain_metrics(scale):
    """The pre-training runs of the configured experiments (per-task runs are reached through fine-tuning)."""
    owners = dict.fromkeys(pretrain_exp(scale, exp) for exp in EXPERIMENTS if not pretrain_per_task(scale, exp))
    return [f"results/{scale}/pretrain/{exp}/metrics.csv" for exp in owners]


wildcard_constraints:
    scale="smoke|paper",
    exp=r"table[0-9]{2}/[A-Za-z0-9_]+",
    task=r"[A-Za-z0-9_]+",


# ---------------------------------------------------------------------------------------------- C4 layout
C4_VARIANTS = ("en", "en.noclean", "realnewslike", "webtextlike", "multilingual")
# Variants the default target builds and reports (reports/c4_stats.md): C4, "C4, unfiltered" and the de/fr/ro
# pages the vocabulary needs. The others are targets of their own (README, "C4 variants").
C4_REPORT_VARIANTS = ("en", "en.noclean", "multilingual")


def c4_variant_dumps(variant):
    """Paper scale: the Common Crawl dumps a variant reads (spec D1: 12 dumps for webtextlike)."""
    p = config["scales"]["paper"]
    return p["variant_dumps"].get(variant, p["variant_dumps"]["default"])


def wet_download_shards(dump):
    """Paper scale: the download shards of a dump, from the configured number of its WET files."""
    p = config["scales"]["paper"]
    if dump not in p["wet_files"]:
        raise WorkflowError(f"no WET file count for dump {dump} in scales.paper.wet_files (conf/workflow.yaml)")
    return -(-p["wet_files"][dump] // p["wet_files_per_shard"])


def c4_shards(scale, variant):
    """The C4 shards of a variant: (dump, download shard) pairs at paper scale; chunks of the generated
    WET files at smoke scale (Hydra c4.num_shards)."""
    if scale == "smoke":
        return [("smoke", k) for k in range(hydra_value("scale=smoke", "c4.num_shards"))]
    return [(dump, k) for dump in c4_variant_dumps(variant) for k in range(wet_download_shards(dump))]


def c4_resolve_parts(scale):
    return hydra_value(f"scale={scale}", "c4.resolve_parts")


def hydra_value(override, key):
    """One value of the resolved Hydra config (conf/), e.g. the smoke scale's c4.num_shards."""
    from omegaconf import OmegaConf

    return OmegaConf.select(composed(override), key)


def c4_work(wildcards):
    return f"results/{wildcards.scale}/c4_work/{wildcards.variant}"


def c4_stage_dirs(stage):
    """Input function: every shard folder of a C4 pass (parse, clean, finish) of the job's variant."""

    def dirs(wildcards):
        n = len(c4_shards(wildcards.scale, wildcards.variant))
        return [f"{c4_work(wildcards)}/{stage}/shard-{s:05d}" for s in range(n)]

    return dirs


def c4_part_dirs(kind):
    """Input function: every resolve part of a global step (url, dedup) of the job's variant."""

    def dirs(wildcards):
        if kind == "dedup" and wildcards.variant == "en.noclean":
            return []  # D19: no dedup
        return [f"{c4_work(wildcards)}/{kind}/part-{p:05d}" for p in range(c4_resolve_parts(wildcards.scale))]

    return dirs


def c4_shard_wet(wildcards):
    """The WET folder of one C4 shard: the generated files (smoke) or one download shard (paper)."""
    if wildcards.scale == "smoke":
        return "results/smoke/wet"
    dump, k = c4_shards("paper", wildcards.variant)[int(wildcards.shard)]
    return f"resources/commoncrawl/{dump}/wet/shard-{k:05d}"


def c4_variant_inputs(wildcards):
    """D6/D8 lists: generated at smoke scale, downloaded at paper scale."""
    base = "results/smoke/c4_variant_inputs" if wildcards.scale == "smoke" else "resources"
    if wildcards.variant == "realnewslike":
        return {"realnews": f"{base}/realnews/domain_to_allowed_subdomains.json"}
    if wildcards.variant == "webtextlike":
        return {"openwebtext": f"{base}/openwebtext"}
    return {}


def c4_variant_args(wildcards, input):
    args = ""
    if "realnews" in input.keys():
        args += f" io.realnews_domains={input.realnews}"
    if "openwebtext" in input.keys():
        args += f" io.openwebtext={input.openwebtext}"
    return args


def c4_common_args(wildcards):
    """The Hydra overrides every C4 job of a variant shares."""
    n = len(c4_shards(wildcards.scale, wildcards.variant))
    dumps = "[]" if wildcards.scale == "smoke" else "[" + ",".join(c4_variant_dumps(wildcards.variant)) + "]"
    layout = "flat" if wildcards.scale == "smoke" else "shard"
    group = wildcards.variant.replace(".", "_")  # conf/c4_variant/<group>.yaml sets c4.variant
    return (f"scale={wildcards.scale} c4_variant={group} c4.num_shards={n} c4.wet_layout={layout}"
            f" c4.dumps={dumps} io.c4_work={c4_work(wildcards)} io.data_dir={c4_resources_dir(wildcards)}")


def c4_resources_input(wildcards):
    """Punkt and the bad-words list: offline copies at smoke scale, downloaded ones at paper scale."""
    return [] if wildcards.scale == "smoke" else ["resources/c4_resources"]


def c4_resources_dir(wildcards):
    return data_dir() if wildcards.scale == "smoke" else "resources/c4_resources"


def task_input(wildcards):
    """Smoke: the generated task data. Paper: the TFDS dataset prepared by rule tfds_prepare."""
    if wildcards.scale == "smoke":
        return "results/smoke/taskdata"
    return f"resources/tfds/{wildcards.task}.prepared"


def task_dir(wildcards):
    return "results/smoke/taskdata" if wildcards.scale == "smoke" else TFDS_DIR
