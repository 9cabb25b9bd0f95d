# Common Crawl WET files -> C4 (paper §2.2; spec data.md §1).
# Smoke: WET files generated from bundled texts. Paper: CC-MAIN-2019-18 downloaded in shards.


rule wet_generate:
    """Smoke scale: write small, real gzip'd WET files mixing pages C4 keeps and pages it must drop."""
    output:
        directory("results/smoke/wet"),
    log:
        "results/smoke/logs/wet.log",
    params:
        config=config_digest("scale=smoke"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro wet scale=smoke io.wet_dir={output} > {log} 2>&1"


rule wet_paths:
    """Paper scale: the dump's list of WET files (spec D2)."""
    output:
        "resources/commoncrawl/{dump}/wet.paths.gz",
    log:
        "resources/logs/{dump}/wet_paths.log",
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=wet_paths download.dump={wildcards.dump} io.out={output} > {log} 2>&1"


rule wet_download_shard:
    """Paper scale: one shard of WET files (download.files_per_shard of them), checked as gzip."""
    input:
        "resources/commoncrawl/{dump}/wet.paths.gz",
    output:
        directory("resources/commoncrawl/{dump}/wet/shard-{shard}"),
    log:
        "resources/logs/{dump}/wet_shard-{shard}.log",
    params:
        per_shard=config["scales"]["paper"]["wet_files_per_shard"],
    resources:
        downloads=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=wet_shard download.shard={wildcards.shard}"
        " download.files_per_shard={params.per_shard} io.wet_paths={input} io.out={output} > {log} 2>&1"


rule c4_resources:
    """Paper scale: NLTK Punkt (punkt_tab) and the LDNOOBW list TFDS pins, checked against their sha256."""
    output:
        directory("resources/c4_resources"),
    log:
        "resources/logs/c4_resources.log",
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=c4_resources io.out={output} > {log} 2>&1"


rule c4:
    """Parse WET, apply the C4 rules (spec D3-D16), write shards, stats.json and manifest.json."""
    input:
        wet=wet_input,
        resources=c4_resources_input,
    output:
        directory("results/{scale}/c4/en"),
    log:
        "results/{scale}/logs/c4.log",
    benchmark:
        "results/{scale}/benchmarks/c4.tsv"
    params:
        wet_dir=wet_dir,
        data_dir=c4_resources_dir,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4 scale={wildcards.scale} io.wet_dir={params.wet_dir} io.data_dir={params.data_dir}"
        " io.c4_dir={output} > {log} 2>&1"
