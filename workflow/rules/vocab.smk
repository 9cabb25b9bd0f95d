# SentencePiece vocabulary on the 10:1:1:1 English:German:French:Romanian mix (paper §3.1.3; spec D30-D33).


rule vocab:
    """Train the shared SentencePiece model (unigram, pad 0 / eos 1 / unk 2) from the C4 shards."""
    input:
        en="results/{scale}/c4/en",
        multilingual="results/{scale}/c4/multilingual",
    output:
        "results/{scale}/vocab/spm.model",
    log:
        "results/{scale}/logs/vocab.log",
    benchmark:
        "results/{scale}/benchmarks/vocab.tsv"
    params:
        config=stage_digest("scale"),
    conda:
        "../envs/t5repro.yaml"
    shell:
        "t5repro vocab scale={wildcards.scale} io.c4_dir={input.en} io.c4_multilingual_dir={input.multilingual} io.vocab_model={output} > {log} 2>&1"
