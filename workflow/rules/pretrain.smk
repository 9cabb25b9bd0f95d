# Pre-training (paper §3.1.2). The orbax workdir under work/ is the resume key: a killed job rerun by
# Snakemake continues from its last complete checkpoint. Results (metrics, summary) land under results/.


rule pretrain:
    """Pre-train T5 on C4 with the experiment's objective; one job per experiment row."""
    input:
        c4="results/{scale}/c4/en",
        vocab="results/{scale}/vocab/spm.model",
    output:
        metrics="results/{scale}/pretrain/{exp}/metrics.csv",
        summary="results/{scale}/pretrain/{exp}/summary.json",
    log:
        "results/{scale}/logs/pretrain/{exp}.log",
    benchmark:
        "results/{scale}/benchmarks/pretrain/{exp}.tsv"
    params:
        workdir="work/{scale}/pretrain/{exp}",
        config=stage_digest("scale", "exp"),
    resources:
        accelerator=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro pretrain scale={wildcards.scale} experiment={wildcards.exp} io.c4_dir={input.c4}"
        " io.vocab_model={input.vocab} io.pretrain_dir={params.workdir}"
        " io.metrics_csv={output.metrics} io.summary_json={output.summary} > {log} 2>&1"
