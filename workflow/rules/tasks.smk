# Downstream task data: generated at smoke scale, TFDS at paper scale (spec data.md §5).


rule taskdata:
    """Smoke scale: generate small tasks with the TFDS feature schemas of SST-2 and CNN/DM."""
    output:
        directory("results/smoke/taskdata"),
    log:
        "results/smoke/logs/taskdata.log",
    params:
        config=config_digest("scale=smoke"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro taskdata scale=smoke io.task_data_dir={output} > {log} 2>&1"


rule tfds_prepare:
    """Paper scale: download and prepare one task's TFDS dataset into resources/tfds."""
    output:
        touch(f"{TFDS_DIR}/{{task}}.prepared"),
    log:
        "resources/logs/tfds_{task}.log",
    params:
        tfds_dir=lambda wildcards, output: os.path.dirname(output[0]),
    resources:
        downloads=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=tfds scale=paper task={wildcards.task}"
        " io.tfds_dir={params.tfds_dir} > {log} 2>&1"
