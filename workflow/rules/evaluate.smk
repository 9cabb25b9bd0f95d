# Evaluation (paper §3.1.2, spec D100-D107): greedy decoding of the validation split at every fine-tuning
# checkpoint; the best checkpoint per task is reported.


rule evaluate:
    """Decode and score one task for one experiment; writes per-checkpoint and best scores."""
    input:
        finetune=evaluated_summary,  # multi-task training (M63): the mixture run itself (common.smk)
        vocab="results/{scale}/vocab/spm.model",
        task=task_input,
    output:
        "results/{scale}/eval/{exp}/{task}.json",
    log:
        "results/{scale}/logs/evaluate/{exp}/{task}.log",
    benchmark:
        "results/{scale}/benchmarks/evaluate/{exp}/{task}.tsv"
    params:
        finetune_dir=evaluated_workdir,
        config=stage_digest("scale", "exp", "task"),
        task_dir=task_dir,
        tfds_dir=TFDS_DIR,
    resources:
        accelerator=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro evaluate scale={wildcards.scale} experiment={wildcards.exp} task={wildcards.task}"
        " io.vocab_model={input.vocab} io.task_data_dir={params.task_dir} io.tfds_dir={params.tfds_dir} io.finetune_dir={params.finetune_dir}"
        " io.eval_json={output} > {log} 2>&1"
