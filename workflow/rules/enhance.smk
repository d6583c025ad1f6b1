# Degraded query sets restored by each of their enhancers (config `enhance`): networks
# trained by train.smk and classical methods that need no training (cbir.stages.enhance), whose
# `auto` parameters are chosen on the validation split (cbir.stages.tune).


rule tune_enhancer:
    input:
        unpack(tuning_inputs),
    output:
        f"{RESULTS}/tuning/{{enhancer}}.json",
    log:
        f"{LOGS}/tune_enhancer/{{enhancer}}.log",
    benchmark:
        f"{LOGS}/benchmarks/tune_enhancer/{{enhancer}}.tsv"
    wildcard_constraints:
        enhancer="|".join(TUNED) or "(?!)",
    threads: THREADS
    resources:
        mem_mb=MEM_MB["enhance_queries"],
        gpu=GPU,
    params:
        enhancer=lambda wc: config["enhancers"][wc.enhancer],
        distance=config["retrieval"]["distances"][0],
        expect=classifier_expectation("standard"),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/tune_enhancer.py"


# One job per restorer, split and (for a network or a router) replicate: every query set it
# restores, the model loaded once; rules enhance_<enhancer>, logs and benchmarks under enhance_queries/.
for _enhancer in ENHANCING:

    rule:
        name:
            f"enhance_{_enhancer}"
        input:
            unpack(for_enhancer(LAYOUT.enhancement_inputs, _enhancer, "part", "rep")),
        output:
            enhancement_outputs(_enhancer),
        log:
            f"{LOGS}/enhance_queries/{{part}}{_enhancer}{REP_OF[_enhancer]}.log",
        benchmark:
            f"{LOGS}/benchmarks/enhance_queries/{{part}}{_enhancer}{REP_OF[_enhancer]}.tsv"
        group:
            "restore"  # the Slurm profile's group of restorations (its rule list cannot name these)
        threads: THREADS
        resources:
            mem_mb=MEM_MB["enhance_queries"],
            gpu=GPU * int(_enhancer in TRAINED + ROUTED),
        params:
            names=restored_by(_enhancer),
            enhancer=config["enhancers"][_enhancer],
            expect=for_enhancer(enhancer_expectation, _enhancer, "rep"),
            routing=for_enhancer(LAYOUT.route_params, _enhancer, "rep"),
            runtime=config["runtime"],
            batch_size=config["inference"]["batch_size"],
        script:
            "../scripts/enhance_queries.py"


rule plot_enhancement:
    input:
        clean=f"{RESULTS}/data/test.h5",
        degraded=f"{RESULTS}/queries/{{query}}.h5",
        restored=lambda wc: restored_sets(wc.query),
    output:
        report(
            f"{RESULTS}/figures/enhancement_{{query}}.png",
            caption="../report/enhancement_images.rst",
            category="Enhancement",
            subcategory="examples (test split)",
        ),
    log:
        f"{LOGS}/plot_enhancement/{{query}}.log",
    params:
        enhancers=lambda wc: ENHANCE[wc.query],
        seed=config["seed"],
    script:
        "../scripts/plot_enhancement.py"
