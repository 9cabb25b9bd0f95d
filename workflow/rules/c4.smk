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
        expected=lambda wc: config["scales"]["paper"]["wet_files"][wc.dump],
    resources:
        downloads=1,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=wet_shard download.shard={wildcards.shard}"
        " download.files_per_shard={params.per_shard} download.expected_files={params.expected} io.wet_paths={input} io.out={output} > {log} 2>&1"


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


# ---------------------------------------------------------------------------------------------- C4, sharded
# One job per shard and pass, one job per resolve part of each global step (src/t5repro/c4/pipeline.py):
#   c4_parse (shard) -> c4_resolve url (part) -> c4_clean (shard) -> c4_resolve dedup (part) -> c4_finish
#   (shard) -> c4_merge -> results/{scale}/c4/{variant}
# Paper scale: a shard is one download shard (1,000 WET files); the resolve jobs hold one hash bucket of the
# whole dump at a time, so no job's memory grows with the dump.


wildcard_constraints:
    variant="|".join(v.replace(".", r"\.") for v in C4_VARIANTS),
    shard=r"[0-9]{5}",
    part=r"[0-9]{5}",
    kind="url|dedup",


rule c4_variant_inputs:
    """Smoke scale: a RealNews domain list and OpenWebText URL lists drawn from the generated WET pages."""
    input:
        "results/smoke/wet",
    output:
        realnews="results/smoke/c4_variant_inputs/realnews/domain_to_allowed_subdomains.json",
        openwebtext=directory("results/smoke/c4_variant_inputs/openwebtext"),
    log:
        "results/smoke/logs/c4_variant_inputs.log",
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-variant-inputs scale=smoke io.wet_dir={input} io.out=results/smoke/c4_variant_inputs > {log} 2>&1"


rule c4_parse:
    """Pass 1 of one shard: parse WET (D3-D4), length (D5), RealNews domains (D6); URL keys for D7."""
    input:
        unpack(c4_variant_inputs),
        wet=c4_shard_wet,
        resources=c4_resources_input,
    output:
        directory("results/{scale}/c4_work/{variant}/parse/shard-{shard}"),
    log:
        "results/{scale}/logs/c4/{variant}/parse-{shard}.log",
    benchmark:
        "results/{scale}/benchmarks/c4/{variant}/parse-{shard}.tsv"
    params:
        common=c4_common_args,
        variant_args=c4_variant_args,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-parse {params.common} c4.shard={wildcards.shard} io.wet_dir={input.wet}{params.variant_args}"
        " > {log} 2>&1"


rule c4_resolve:
    """A global step, one part: newest page per URL (kind=url, D7) or who keeps each line/window (dedup)."""
    input:
        lambda wc: c4_stage_dirs("parse" if wc.kind == "url" else "clean")(wc),
    output:
        directory("results/{scale}/c4_work/{variant}/{kind}/part-{part}"),
    log:
        "results/{scale}/logs/c4/{variant}/resolve-{kind}-{part}.log",
    benchmark:
        "results/{scale}/benchmarks/c4/{variant}/resolve-{kind}-{part}.tsv"
    params:
        common=c4_common_args,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-resolve {params.common} c4.resolve={wildcards.kind} c4.part={wildcards.part} > {log} 2>&1"


rule c4_clean:
    """Pass 2 of one shard: URL winners (D7), WebText URLs (D8), line and page cleaning (D9-D11); dedup keys."""
    input:
        unpack(c4_variant_inputs),
        parse="results/{scale}/c4_work/{variant}/parse/shard-{shard}",
        url=c4_part_dirs("url"),
        resources=c4_resources_input,
    output:
        directory("results/{scale}/c4_work/{variant}/clean/shard-{shard}"),
    log:
        "results/{scale}/logs/c4/{variant}/clean-{shard}.log",
    benchmark:
        "results/{scale}/benchmarks/c4/{variant}/clean-{shard}.tsv"
    params:
        common=c4_common_args,
        variant_args=c4_variant_args,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-clean {params.common} c4.shard={wildcards.shard}{params.variant_args} > {log} 2>&1"


rule c4_finish:
    """Pass 3 of one shard: dedup (D12 paper / D13 tfds), language (D14), bad words (D15), split (D16)."""
    input:
        clean="results/{scale}/c4_work/{variant}/clean/shard-{shard}",
        dedup=c4_part_dirs("dedup"),
        resources=c4_resources_input,
    output:
        directory("results/{scale}/c4_work/{variant}/finish/shard-{shard}"),
    log:
        "results/{scale}/logs/c4/{variant}/finish-{shard}.log",
    benchmark:
        "results/{scale}/benchmarks/c4/{variant}/finish-{shard}.tsv"
    params:
        common=c4_common_args,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-finish {params.common} c4.shard={wildcards.shard} > {log} 2>&1"


rule c4_merge:
    """A variant's folder: every shard's split files (hard links), stats.csv, stats.json, manifest.json (D24)."""
    input:
        unpack(c4_variant_inputs),
        parse=c4_stage_dirs("parse"),
        clean=c4_stage_dirs("clean"),
        finish=c4_stage_dirs("finish"),
    output:
        directory("results/{scale}/c4/{variant}"),
    log:
        "results/{scale}/logs/c4/{variant}/merge.log",
    params:
        common=c4_common_args,
        variant_args=c4_variant_args,
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro c4-merge {params.common} io.c4_dir={output}{params.variant_args} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------- variant inputs
rule realnews_domains:
    """Paper scale: grover's RealNews domain list @ 38f7184, sha256-checked (spec D1, D6)."""
    output:
        "resources/realnews/domain_to_allowed_subdomains.json",
    log:
        "resources/logs/realnews_domains.log",
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=realnews_domains c4_variant=realnewslike io.out=resources/realnews"
        " > {log} 2>&1"


rule openwebtext:
    """Paper scale: OpenWebText's URL lists (spec D8). A manual download, as in TFDS: the job says where to
    put OpenWebText.zip when it is missing."""
    output:
        directory("resources/openwebtext"),
    log:
        "resources/logs/openwebtext.log",
    params:
        tfds_dir=TFDS_DIR,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=openwebtext c4_variant=webtextlike io.tfds_dir={params.tfds_dir}"
        " io.out={output} > {log} 2>&1"


rule tfds_corpus:
    """Paper scale, §3.4.1: Wikipedia (TFDS wikipedia/20190301.en) and Wikipedia + TBC (PG-19 stands in for the
    Toronto Books Corpus, which is not public; README), exported to the C4 layout."""
    output:
        directory("results/paper/corpora/{corpus}"),
    log:
        "results/paper/logs/corpora/{corpus}.log",
    wildcard_constraints:
        corpus="wikipedia|wikipedia_tbc",
    params:
        tfds_dir=TFDS_DIR,
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro download download.what=tfds_corpus c4_variant={wildcards.corpus} scale=paper io.tfds_dir={params.tfds_dir}"
        " io.out={output} > {log} 2>&1"
