# Degraded query sets built from the test split and the validation split (config keys `queries`,
# `mixtures`, `degradation`), and Figure 6.


rule degrade_queries:
    input:
        query_source,
    output:
        f"{RESULTS}/queries/{{part}}{{query}}.h5",
    log:
        f"{LOGS}/degrade_queries/{{part}}{{query}}.log",
    benchmark:
        f"{LOGS}/benchmarks/degrade_queries/{{part}}{{query}}.tsv"
    wildcard_constraints:
        query="|".join(config["queries"]),
    threads: 2
    resources:
        mem_mb=MEM_MB["degrade_queries"],
    params:
        specs=lambda wc: config["queries"][wc.query],
        stream=lambda wc: f"{wc.part}{wc.query}",
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
        chunk_size=config["degradation"]["chunk_size"],
    script:
        "../scripts/degrade_queries.py"


# A mixture (config `mixtures`): each image clean or degraded as one of its member sets, kind stored.
rule mix_queries:
    input:
        query_source,
    output:
        f"{RESULTS}/queries/{{part}}{{query}}.h5",
    log:
        f"{LOGS}/mix_queries/{{part}}{{query}}.log",
    wildcard_constraints:
        query="|".join(config["mixtures"]) or "(?!)",
    threads: 2
    params:
        queries=config["queries"],
        members=lambda wc: config["mixtures"][wc.query],
        stream=lambda wc: f"{wc.part}{wc.query}",
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
    script:
        "../scripts/mix_queries.py"


rule plot_degradations:
    input:
        f"{RESULTS}/data/test.h5",
    output:
        report(
            f"{RESULTS}/figures/degradations.png",
            caption="../report/degradations.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/plot_degradations.log",
    params:
        queries=config["queries"],
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
    script:
        "../scripts/plot_degradations.py"
