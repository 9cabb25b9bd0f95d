# Validation, constants and input functions shared by every rule file. No rules here (STYLE.md §4).
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


def config_digest(*overrides):
    """sha256 of the resolved Hydra config a job runs with (io paths excluded).

    Passed to rules as a param, so Snakemake's params rerun trigger reruns exactly the jobs whose
    configuration changed when a file under conf/ is edited.
    """
    import hashlib

    from omegaconf import OmegaConf

    from t5repro import config as t5_config

    resolved = OmegaConf.to_container(t5_config.load(list(overrides)), resolve=True)
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
    return out


def eval_jsons(scale):
    return [f"results/{scale}/eval/{exp}/{task}.json" for exp in EXPERIMENTS for task in tasks(scale)]


def pretrain_metrics(scale):
    return [f"results/{scale}/pretrain/{exp}/metrics.csv" for exp in EXPERIMENTS]


wildcard_constraints:
    scale="smoke|paper",
    exp=r"table[0-9]{2}/[A-Za-z0-9_]+",
    task=r"[A-Za-z0-9_]+",


def wet_input(wildcards):
    """Smoke: the generated WET folder. Paper: every downloaded shard of the dump's WET files (§2.2)."""
    if wildcards.scale == "smoke":
        return "results/smoke/wet"
    p = config["scales"]["paper"]
    n = -(-p["wet_files"] // p["wet_files_per_shard"])
    return [f"resources/commoncrawl/{p['common_crawl_dump']}/wet/shard-{k:05d}" for k in range(n)]


def wet_dir(wildcards):
    if wildcards.scale == "smoke":
        return "results/smoke/wet"
    return f"resources/commoncrawl/{config['scales']['paper']['common_crawl_dump']}/wet"


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
