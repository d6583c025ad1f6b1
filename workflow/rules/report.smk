# Tables and retrieval figures: the paper's Table 1 and more (cbir.stages.report).


rule evaluate_retrieval:
    input:
        galleries=expand(f"{RESULTS}/embeddings/{{keyset}}/gallery.h5", keyset=KEYS),
        embeddings=expand(
            f"{RESULTS}/embeddings/{{keyset}}/{{qset}}.h5",
            keyset=KEYS,
            qset=QUERY_SETS,
        ),
        results=expand(
            f"{RESULTS}/retrieval/{{keyset}}/{{qset}}.h5", keyset=KEYS, qset=QUERY_SETS
        ),
    output:
        csv=report(f"{RESULTS}/tables/retrieval.csv", category="Retrieval"),
        table1=report(f"{RESULTS}/tables/table1.md", category="Retrieval"),
        per_query=report(f"{RESULTS}/tables/queries.md", category="Retrieval"),
    log:
        f"{LOGS}/evaluate_retrieval.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_retrieval/tables.tsv"
    params:
        key_sets=KEYS,  # the input lists are keys-major: every query set of one key set, then the next
        qsets=QUERY_SETS,
        ks=config["retrieval"]["ks"],
        defaults={query: names[0] for query, names in ENHANCE.items()},
    script:
        "../scripts/evaluate_retrieval.py"


rule evaluate_enhancement:
    input:
        retrieval=f"{RESULTS}/tables/retrieval.csv",
        test=f"{RESULTS}/data/test.h5",
        degraded=expand(f"{RESULTS}/queries/{{query}}.h5", query=ENHANCE),
        restored=expand(f"{RESULTS}/queries/{{qset}}.h5", qset=RESTORED),
    output:
        csv=report(f"{RESULTS}/tables/enhancement.csv", category="Enhancement"),
        markdown=report(f"{RESULTS}/tables/enhancement.md", category="Enhancement"),
    log:
        f"{LOGS}/evaluate_enhancement.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_enhancement/tables.tsv"
    params:
        queries=list(ENHANCE),
        restored=RESTORED,
        enhance=ENHANCE,
        clean=CLEAN,
    script:
        "../scripts/evaluate_enhancement.py"


rule plot_gap_closed:
    input:
        f"{RESULTS}/tables/enhancement.csv",
    output:
        report(f"{RESULTS}/figures/gap_closed.png", category="Enhancement"),
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
        report(f"{RESULTS}/figures/retrieval_{{qset}}.png", category="Retrieval"),
    log:
        f"{LOGS}/plot_retrieval/{{qset}}.log",
    params:
        n_queries=config["report"]["figure_queries"],
        seed=config["seed"],
    script:
        "../scripts/plot_retrieval.py"
