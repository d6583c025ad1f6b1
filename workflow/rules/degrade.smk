# Degraded query sets built from the test split (DESIGN section 5).


rule degrade_queries:
    input:
        f"{RESULTS}/data/test.h5",
    output:
        f"{RESULTS}/queries/{{query}}.h5",
    params:
        spec=lambda wc: config["queries"][wc.query],
        options=config["degradation"],
        seed=config["seed"],
    log:
        f"{LOGS}/degrade_queries/{{query}}.log",
    script:
        "../scripts/degrade_queries.py"


rule plot_degradations:
    input:
        f"{RESULTS}/data/test.h5",
    output:
        report(f"{RESULTS}/figures/degradations.png", category="Data"),
    params:
        options=config["degradation"],
        seed=config["seed"],
    log:
        f"{LOGS}/plot_degradations.log",
    script:
        "../scripts/plot_degradations.py"
