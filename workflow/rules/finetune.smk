# Fine-tuning on each downstream task (paper §3.1.2): constant 1e-3, every checkpoint kept for selection.


rule finetune:
    """Fine-tune the experiment's pre-trained model on one task."""
    input:
        pretrain=pretrain_summary,  # shared by experiments whose pre-training configs agree (common.smk)
        vocab="results/{scale}/vocab/spm.model",
        task=task_input,
    output:
        metrics="results/{scale}/finetune/{exp}/{task}/metrics.csv",
        summary="results/{scale}/finetune/{exp}/{task}/summary.json",
    log:
        "results/{scale}/logs/finetune/{exp}/{task}.log",
    benchmark:
        "results/{scale}/benchmarks/finetune/{exp}/{task}.tsv"
    params:
        pretrain_dir=pretrain_workdir,
        workdir="work/{scale}/finetune/{exp}/{task}",
        config=stage_digest("scale", "exp", "task"),
        task_dir=task_dir,
        tfds_dir=TFDS_DIR,
    resources:
        accelerator=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro finetune scale={wildcards.scale} experiment={wildcards.exp} task={wildcards.task}"
        " io.vocab_model={input.vocab} io.task_data_dir={params.task_dir} io.tfds_dir={params.tfds_dir} io.pretrain_dir={params.pretrain_dir}"
        " io.finetune_dir={params.workdir} io.metrics_csv={output.metrics} io.summary_json={output.summary}"
        " > {log} 2>&1"
