# t5repro: raw Common Crawl WET files -> C4 -> vocabulary -> pre-training -> fine-tuning -> evaluation -> the
# paper's tables. Every rule is a thin call of `t5repro <stage> key=value ...` (src/t5repro/cli.py).
#   snakemake --profile workflow/profiles/local          # smoke scale (default target), CPU, minutes
#   snakemake -n --config scale=paper                    # the paper-scale job graph, nothing run
import os

from snakemake.utils import min_version

min_version("9.0")


# Relative to the Snakefile, so `snakemake -s <repo>/Snakefile -d <elsewhere>` works (tests/workflow).
configfile: os.path.join(workflow.basedir, "conf", "workflow.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/c4.smk"
include: "workflow/rules/vocab.smk"
include: "workflow/rules/tasks.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    """Default target: the configured tables at the configured scale (smoke unless --config scale=paper)."""
    default_target: True
    input:
        final_outputs(SCALE),


rule smoke:
    """The smoke DAG: every stage, tiny and offline, ending in reports/table01_baseline.md."""
    input:
        lambda wildcards: final_outputs("smoke"),
