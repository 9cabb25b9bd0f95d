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


ruleorder: table01_baseline > report_table


rule report_table:
    """Tables 2, 4-7 and 10-12: the paper's rows, then ours for each configured experiment of that table
    (conf/workflow.yaml `experiments`, e.g. --config "experiments=[table10/all_params,table10/adapters_32]")."""
    input:
        evals=table_eval_jsons,
    output:
        md="reports/{table}.md",
        csv=report("reports/{table}.csv", caption="../report/tables.rst", category="Tables"),
        tex="reports/{table}.tex",
    log:
        "results/logs/report_{table}.log",
    wildcard_constraints:
        table="table(0[2-9]|1[0-9])_[a-z0-9_]+",
    params:
        paper_dir=paper_dir(),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro report report.table={wildcards.table} io.results_dir=results io.reports_dir=reports"
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


rule c4_stats:
    """C4 statistics (§2.2, §3.4.1): pages through every step of each built variant of the configured scale,
    our sizes beside Table 8's."""
    input:
        expand("results/{scale}/c4/{variant}", scale=SCALE, variant=C4_REPORT_VARIANTS),
    output:
        md="reports/c4_stats.md",
        csv=report("reports/c4_stats.csv", caption="../report/c4_stats.rst", category="Tables"),
        tex="reports/c4_stats.tex",
        png=report("reports/figures/c4_funnel.png", caption="../report/c4_stats.rst", category="Figures"),
        pdf="reports/figures/c4_funnel.pdf",
    log:
        "results/logs/report_c4_stats.log",
    params:
        paper_dir=paper_dir(),
        scale=SCALE,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro report report.table=c4_stats scale={params.scale} io.c4_root=results/{params.scale}/c4"
        " io.reports_dir=reports io.paper_dir={params.paper_dir} > {log} 2>&1"
