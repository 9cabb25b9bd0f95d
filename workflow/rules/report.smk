# The paper's tables regenerated beside the paper's own numbers, and the loss-curve figure.


rule table01_baseline:
    """Table 1 (§3.1): our baseline beside the paper's mean and std of 10 runs, one row per scale."""
    input:
        evals=eval_jsons(SCALE),
        pretrain=pretrain_metrics(SCALE),
    output:
        md="reports/table01_baseline.md",
        csv=report("reports/table01_baseline.csv", caption="../report/table01.rst", category="Tables"),
        tex="reports/table01_baseline.tex",
        png=report("reports/figures/loss_curve.png", caption="../report/loss_curve.rst", category="Figures"),
        pdf="reports/figures/loss_curve.pdf",
    log:
        "results/logs/report_table01_baseline.log",
    params:
        paper_dir=paper_dir(),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro report report.table=table01_baseline io.results_dir=results io.reports_dir=reports"
        " io.paper_dir={params.paper_dir} > {log} 2>&1"


rule table03_objectives:
    """Table 3 (§3.3): the paper's example sentence through each objective, beside the paper's rows.
    Not part of the default target: build it with `snakemake reports/table03_objectives.md`."""
    output:
        md="reports/table03_objectives.md",
        csv=report("reports/table03_objectives.csv", caption="../report/table03.rst", category="Tables"),
    log:
        "results/logs/report_table03_objectives.log",
    params:
        paper_dir=paper_dir(),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro report report.table=table03_objectives io.reports_dir=reports"
        " io.paper_dir={params.paper_dir} > {log} 2>&1"
