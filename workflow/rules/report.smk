# Tables and retrieval figures: the paper's Table 1 and more (cbir.stages.report).


rule evaluate_retrieval:
    input:
        unpack(searches),
    output:
        csv=report(
            f"{RESULTS}/tables/{{part}}retrieval.csv",
            caption="../report/retrieval_csv.rst",
            category="Retrieval",
            subcategory=lambda wc: "validation split" if wc.part else "test split",
        ),
        table1=report(
            f"{RESULTS}/tables/{{part}}table1.md",
            caption="../report/table1.rst",
            category="Retrieval",
            subcategory=lambda wc: "validation split" if wc.part else "test split",
        ),
        per_query=report(
            f"{RESULTS}/tables/{{part}}queries.md",
            caption="../report/queries.rst",
            category="Retrieval",
            subcategory=lambda wc: "validation split" if wc.part else "test split",
        ),
    log:
        f"{LOGS}/evaluate_retrieval/{{part}}tables.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_retrieval/{{part}}tables.tsv"
    params:
        key_sets=KEYS,
        replicates=REPLICATES,
        plan=search_plan(),  # one entry per embeddings and results file, in their order
        ks=config["retrieval"]["ks"],
        defaults={query: names[0] for query, names in ENHANCE.items()},
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/evaluate_retrieval.py"


rule evaluate_enhancement:
    input:
        unpack(searches),
        clean=query_source,
        degraded=expand(f"{RESULTS}/queries/{{{{part}}}}{{query}}.h5", query=ENHANCE),
        restored=expand(f"{RESULTS}/queries/{{{{part}}}}{{qset}}.h5", qset=RESTORED),
        tuned=expand(f"{RESULTS}/tuning/{{name}}.json", name=TUNED_ALL),
    output:
        csv=report(
            f"{RESULTS}/tables/{{part}}enhancement.csv",
            caption="../report/enhancement_csv.rst",
            category="Enhancement",
            subcategory=lambda wc: "validation split" if wc.part else "test split",
        ),
        markdown=report(
            f"{RESULTS}/tables/{{part}}enhancement.md",
            caption="../report/enhancement_md.rst",
            category="Enhancement",
            subcategory=lambda wc: "validation split" if wc.part else "test split",
        ),
    log:
        f"{LOGS}/evaluate_enhancement/{{part}}tables.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_enhancement/{{part}}tables.tsv"
    params:
        key_sets=KEYS,
        replicates=REPLICATES,
        plan=search_plan(),
        ks=config["retrieval"]["ks"],
        queries=list(ENHANCE),
        restored=RESTORED,
        enhance=ENHANCE,
        clean=CLEAN,
        tuned=TUNED_ALL,
        networks=TRAINED + ROUTED,
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/evaluate_enhancement.py"


rule plot_gap_closed:
    input:
        f"{RESULTS}/tables/enhancement.csv",
    output:
        report(
            f"{RESULTS}/figures/gap_closed.png",
            caption="../report/gap_closed.rst",
            category="Enhancement",
            subcategory="test split",
        ),
    log:
        f"{LOGS}/plot_gap_closed.log",
    params:
        distance=config["retrieval"]["distances"][0],
        k=min(config["retrieval"]["ks"]),
    script:
        "../scripts/plot_gap_closed.py"


rule plot_retrieval:
    input:
        results=f"{RESULTS}/retrieval/standard/{{qset}}.h5",
        queries=f"{RESULTS}/queries/{{qset}}.h5",
        gallery=f"{RESULTS}/data/train.h5",
    output:
        report(
            f"{RESULTS}/figures/retrieval_{{qset}}.png",
            caption="../report/retrieval_examples.rst",
            category="Retrieval",
            subcategory="examples (test split)",
        ),
    log:
        f"{LOGS}/plot_retrieval/{{qset}}.log",
    params:
        n_queries=config["report"]["figure_queries"],
        seed=config["seed"],
    script:
        "../scripts/plot_retrieval.py"


rule record_config:
    output:
        config=f"{RESULTS}/config.yaml",
        digest=f"{RESULTS}/config.sha256",
    log:
        f"{LOGS}/record_config.log",
    params:
        config=config,  # a changed config reruns this job (params are part of its provenance)
    script:
        "../scripts/record_config.py"
