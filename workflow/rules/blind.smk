# Queries whose degradation nobody announces (config `mixtures`, routed enhancers, `detector`):
# the detector's accuracy and the blind table (cbir.stages.detect, cbir.stages.blind).


rule evaluate_detector:
    input:
        models=[LAYOUT.detector_model(tag) for tag in TAGS],
        queries=[LAYOUT.query_file(name) for name in LAYOUT.mixtures],
        test=f"{RESULTS}/data/test.h5",
    output:
        csv=f"{RESULTS}/tables/detector.csv",
        markdown=f"{RESULTS}/tables/detector.md",
        figure=report(
            f"{RESULTS}/figures/detector_confusion.png",
            caption="../report/detector_confusion.rst",
            category="Blind routing",
        ),
    log:
        f"{LOGS}/evaluate_detector.log",
    threads: THREADS
    resources:
        mem_mb=MEM_MB["evaluate_classifier"],
        gpu=GPU,
    params:
        mixtures=list(LAYOUT.mixtures),
        extremes=LAYOUT.detector_extremes(),
        expect=[LAYOUT.detector_expectation(tag) for tag in TAGS],
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
        evaluation=config["evaluation"],
    script:
        "../scripts/evaluate_detector.py"


rule evaluate_blind:
    input:
        unpack(searches),
    output:
        csv=f"{RESULTS}/tables/{{part}}blind.csv",
        markdown=f"{RESULTS}/tables/{{part}}blind.md",
    log:
        f"{LOGS}/evaluate_blind/{{part}}tables.log",
    params:
        key_sets=KEYS,
        replicates=REPLICATES,
        plan=search_plan(),
        ks=config["retrieval"]["ks"],
        evaluation=config["evaluation"],
        seed=config["seed"],
        table_plan=LAYOUT.blind_table_plan(),
        clean=CLEAN,
    script:
        "../scripts/evaluate_blind.py"


rule plot_blind:
    input:
        f"{RESULTS}/tables/blind.csv",
    output:
        report(
            f"{RESULTS}/figures/blind.png",
            caption="../report/blind.rst",
            category="Blind routing",
        ),
    log:
        f"{LOGS}/plot_blind.log",
    params:
        ks=config["retrieval"]["ks"],
    script:
        "../scripts/plot_blind.py"
