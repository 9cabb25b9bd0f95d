# Pre-training (paper §3.1.2). The orbax workdir under work/ is the resume key: a killed job rerun by
# Snakemake continues from its last complete checkpoint. Results (metrics, summary) land under results/.
# Experiments whose pre-training configs agree share one job (common.smk: pretrain_exp); a mixture
# (§3.5.3) also reads the supervised tasks' data.


rule pretrain:
    """Pre-train on C4 (or the experiment's mixture) with the experiment's objective; one job per run."""
    input:
        unpack(pretrain_c4),
        vocab="results/{scale}/vocab/spm.model",
        tasks=mixture_task_inputs,
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
        task_dir=task_dir,
        tfds_dir=TFDS_DIR,
    resources:
        accelerator=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro pretrain scale={wildcards.scale} experiment={wildcards.exp} io.c4_dir={input.c4}"
        " io.c4_tokenized_dir=results/{wildcards.scale}/c4_tokenized/en"
        " io.vocab_model={input.vocab} io.task_data_dir={params.task_dir} io.tfds_dir={params.tfds_dir}"
        " io.pretrain_dir={params.workdir} io.metrics_csv={output.metrics} io.summary_json={output.summary}"
        " > {log} 2>&1"


rule pretrain_task:
    """Leave-one-out (§3.5.3, M67): a pre-training run per fine-tuned task, composed with that task."""
    input:
        unpack(pretrain_c4),
        vocab="results/{scale}/vocab/spm.model",
        tasks=mixture_task_inputs,
    output:
        metrics="results/{scale}/pretrain/{exp}/{task}/metrics.csv",
        summary="results/{scale}/pretrain/{exp}/{task}/summary.json",
    log:
        "results/{scale}/logs/pretrain/{exp}/{task}.log",
    benchmark:
        "results/{scale}/benchmarks/pretrain/{exp}/{task}.tsv"
    params:
        workdir="work/{scale}/pretrain/{exp}/{task}",
        config=stage_digest("scale", "exp", "task"),
        task_dir=task_dir,
        tfds_dir=TFDS_DIR,
    resources:
        accelerator=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro pretrain scale={wildcards.scale} experiment={wildcards.exp} task={wildcards.task}"
        " io.c4_dir={input.c4} io.c4_tokenized_dir=results/{wildcards.scale}/c4_tokenized/en"
        " io.vocab_model={input.vocab} io.task_data_dir={params.task_dir}"
        " io.tfds_dir={params.tfds_dir} io.pretrain_dir={params.workdir} io.metrics_csv={output.metrics}"
        " io.summary_json={output.summary} > {log} 2>&1"


rule c4_tokenize:
    """C4's texts as SentencePiece ids, once (spec D41's cache point; read when data.pretokenized)."""
    input:
        c4="results/{scale}/c4/en",
        vocab="results/{scale}/vocab/spm.model",
    output:
        directory("results/{scale}/c4_tokenized/en"),
    log:
        "results/{scale}/logs/c4_tokenize.log",
    benchmark:
        "results/{scale}/benchmarks/c4_tokenize.tsv"
    params:
        config=stage_digest("scale"),
    threads: lambda wildcards: 1 if wildcards.scale == "smoke" else 64  # shards in parallel; capped by --cores
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-tokenize scale={wildcards.scale} io.c4_dir={input.c4} io.vocab_model={input.vocab}"
        " io.c4_tokenized_dir={output} data.tokenize_workers={threads} > {log} 2>&1"
