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


rule enhance_queries:
    input:
        unpack(enhancement_inputs),
    output:
        f"{RESULTS}/queries/{{part}}{RESTORED_SET}{{rep}}.h5",
    log:
        f"{LOGS}/enhance_queries/{{part}}{RESTORED_SET}{{rep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/enhance_queries/{{part}}{RESTORED_SET}{{rep}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["enhance_queries"],
        gpu=lambda wc: GPU * int(wc.enhancer in TRAINED),
    params:
        enhancer=lambda wc: config["enhancers"][wc.enhancer],
        expect=lambda wc: enhancer_expectation(wc.enhancer, wc.rep),
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
