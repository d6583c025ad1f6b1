# Degraded query sets built from the test split (DESIGN section 5).


rule degrade_queries:
    input:
        f"{RESULTS}/data/test.h5",
    output:
        f"{RESULTS}/queries/{{query}}.h5",
    log:
        f"{LOGS}/degrade_queries/{{query}}.log",
    params:
        spec=lambda wc: config["queries"][wc.query],
        options=config["degradation"],
        seed=config["seed"],
    script:
        "../scripts/degrade_queries.py"


rule plot_degradations:
    input:
        f"{RESULTS}/data/test.h5",
    output:
        report(f"{RESULTS}/figures/degradations.png", category="Data"),
    log:
        f"{LOGS}/plot_degradations.log",
    params:
        options=config["degradation"],
        seed=config["seed"],
    script:
        "../scripts/plot_degradations.py"
