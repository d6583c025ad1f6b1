# Severity sweeps (config `sweeps`, beyond the paper): each sweep's query sets at every severity,
# on the test split and on the validation split (where each sweep's best restorer is
# chosen), restored by its enhancers, embedded and searched with every key set; one job per
# sweep and step so that editing one severity table reruns that sweep's jobs only
# (cbir.stages.sweep).
# Not part of `all` (about 7.5 more minutes on 2 CPU cores): `snakemake --cores all robustness`.


rule robustness:
    input:
        lambda wc: robustness_outputs(),  # an input function: only `robustness` raises


rule degrade_sweep:
    input:
        query_source,
    output:
        sweep_files("queries", "{sweep}", "none", part="{part}"),
    log:
        f"{LOGS}/degrade_sweep/{{part}}{{sweep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/degrade_sweep/{{part}}{{sweep}}.tsv"
    threads: 2
    resources:
        mem_mb=MEM_MB["degrade_queries"],
    params:
        name=lambda wc: wc.sweep,
        severities=lambda wc: severity_specs(SWEEPS[wc.sweep]),
        stream=lambda wc: f"{wc.part}{wc.sweep}",
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
        chunk_size=config["degradation"]["chunk_size"],
    script:
        "../scripts/degrade_sweep.py"


rule enhance_sweep:
    input:
        unpack(sweep_enhancement_inputs),
    output:
        sweep_files("queries", "{sweep}", "{enhancer}", part="{part}"),
    log:
        f"{LOGS}/enhance_sweep/{{part}}{{sweep}}/{{enhancer}}.log",
    benchmark:
        f"{LOGS}/benchmarks/enhance_sweep/{{part}}{{sweep}}/{{enhancer}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["enhance_queries"],
        gpu=lambda wc: GPU * int(wc.enhancer in TRAINED),
    params:
        enhancer=lambda wc: config["enhancers"][wc.enhancer],
        expect=lambda wc: enhancer_expectation(wc.enhancer),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/enhance_sweep.py"


rule retrieve_sweep:
    input:
        model=lambda wc: classifier_model(wc.key_set),
        gallery=f"{RESULTS}/embeddings/{{key_set}}/gallery.h5",
        queries=lambda wc: sweep_files("queries", wc.sweep, wc.enhancer, part=wc.part),
    output:
        embeddings=sweep_files(
            "embeddings", "{sweep}", "{enhancer}", "{key_set}", "{part}"
        ),
        results=sweep_files("retrieval", "{sweep}", "{enhancer}", "{key_set}", "{part}"),
    log:
        f"{LOGS}/retrieve_sweep/{{part}}{{sweep}}/{{key_set}}/{{enhancer}}.log",
    benchmark:
        f"{LOGS}/benchmarks/retrieve_sweep/{{part}}{{sweep}}/{{key_set}}/{{enhancer}}.tsv"
    wildcard_constraints:
        enhancer=sweep_enhancer_constraint(),  # `none` too: the unrestored image sets
    threads: THREADS
    resources:
        mem_mb=MEM_MB["search_queries"],
        gpu=GPU,
    params:
        expect=lambda wc: classifier_expectation(wc.key_set),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        distances=config["retrieval"]["distances"],
        topk=config["retrieval"]["topk"],
        chunk_size=config["retrieval"]["chunk_size"],
    script:
        "../scripts/retrieve_sweep.py"


rule evaluate_robustness:
    input:
        retrieval=f"{RESULTS}/tables/retrieval.csv",
        galleries=expand(f"{RESULTS}/embeddings/{{key_set}}/gallery.h5", key_set=KEYS),
        embeddings=sweep_outputs("embeddings"),
        results=sweep_outputs("retrieval"),
        # each key set's clean test queries (the clean error of the relative mCE)
        clean_embeddings=expand(
            f"{RESULTS}/embeddings/{{key_set}}/{CLEAN}.h5", key_set=KEYS
        ),
        clean_results=expand(
            f"{RESULTS}/retrieval/{{key_set}}/{CLEAN}.h5", key_set=KEYS
        ),
    output:
        csv=report(
            f"{RESULTS}/tables/robustness.csv",
            caption="../report/robustness_csv.rst",
            category="Robustness",
        ),
        markdown=report(
            f"{RESULTS}/tables/robustness.md",
            caption="../report/robustness_md.rst",
            category="Robustness",
        ),
    log:
        f"{LOGS}/evaluate_robustness.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_robustness/tables.tsv"
    params:
        runs=sweep_runs(),  # (part, keys, enhancer, sweep, severity) of each embeddings/results file
        key_sets=KEYS,
        clean=CLEAN,
        ks=config["retrieval"]["ks"],
        k=min(config["retrieval"]["ks"]),
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/evaluate_robustness.py"


rule plot_robustness:
    input:
        table=f"{RESULTS}/tables/robustness.csv",
        retrieval=f"{RESULTS}/tables/retrieval.csv",
    output:
        report(
            f"{RESULTS}/figures/robustness_curves.png",
            caption="../report/robustness_curves.rst",
            category="Robustness",
        ),
    log:
        f"{LOGS}/plot_robustness.log",
    params:
        clean=CLEAN,
        distance=config["retrieval"]["distances"][0],
        k=min(config["retrieval"]["ks"]),
    script:
        "../scripts/plot_robustness.py"
