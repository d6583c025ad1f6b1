# Degraded query sets restored by their enhancer (config key `enhance`).


rule enhance_queries:
    input:
        queries=f"{RESULTS}/queries/{{query}}.h5",
        model=lambda wc: f"{RESULTS}/models/{config['enhance'][wc.query]}.pt",
    output:
        f"{RESULTS}/queries/{{query}}_enhanced.h5",
    log:
        f"{LOGS}/enhance_queries/{{query}}.log",
    threads: 8
    resources:
        gpu=1,
    params:
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/enhance_queries.py"


rule plot_enhancement:
    input:
        clean=f"{RESULTS}/queries/clean.h5",
        degraded=f"{RESULTS}/queries/{{query}}.h5",
        enhanced=f"{RESULTS}/queries/{{query}}_enhanced.h5",
    output:
        report(f"{RESULTS}/figures/enhancement_{{query}}.png", category="Enhancement"),
    log:
        f"{LOGS}/plot_enhancement/{{query}}.log",
    params:
        seed=config["seed"],
    script:
        "../scripts/plot_enhancement.py"
