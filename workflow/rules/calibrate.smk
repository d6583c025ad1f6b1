# Calibration (config `calibration`, beyond the paper): the strength at which each query set's
# validation drop (clean - degraded, L2 top-1, standard keys, mean over replicates) matches the
# paper's. Not part of `all`, whose config carries the strengths it found:
# `snakemake --cores all calibrate` (cbir.calibration, cbir.stages.calibrate).


rule calibrate:
    input:
        lambda wc: calibration_outputs(),  # an input function: only `calibrate` raises


# Every grid value of every calibrated set in one job (a few hundred images each); each set
# draws from its validation query set's stream, so the grid value equal to the configured
# strength is that query set byte for byte.
rule degrade_calibration:
    input:
        f"{RESULTS}/data/validation.h5",
    output:
        [calibration_file("queries", q, i) for q, i in GRID],
    log:
        f"{LOGS}/degrade_calibration.log",
    benchmark:
        f"{LOGS}/benchmarks/degrade_calibration/queries.tsv"
    threads: 2
    resources:
        mem_mb=MEM_MB["degrade_queries"],
    params:
        grids=GRIDS,
        seed=config["seed"],
        rescale=config["degradation"]["rescale"],
        chunk_size=config["degradation"]["chunk_size"],
    script:
        "../scripts/degrade_calibration.py"


rule search_calibration:
    input:
        model=lambda wc: classifier_model("standard", wc.rep),
        gallery=f"{RESULTS}/embeddings/standard{{rep}}/gallery.h5",
        images=calibration_images(),
    output:
        embeddings=calibration_searches("embeddings"),
        results=calibration_searches("retrieval"),
    log:
        f"{LOGS}/search_calibration/standard{{rep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/search_calibration/standard{{rep}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["search_queries"],
        gpu=GPU,
    params:
        names=[q for q, _ in SEARCHED],
        expect=lambda wc: classifier_expectation("standard", wc.rep),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        retrieval={
            k: config["retrieval"][k] for k in ("distances", "topk", "chunk_size")
        },
    script:
        "../scripts/search_queries.py"


rule evaluate_calibration:
    input:
        galleries=expand(f"{RESULTS}/embeddings/standard{{tag}}/gallery.h5", tag=TAGS),
        clean_embeddings=[calibration_searches("embeddings", t)[-1] for t in TAGS],
        clean_results=[calibration_searches("retrieval", t)[-1] for t in TAGS],
        embeddings=calibration_reads("embeddings"),
        results=calibration_reads("retrieval"),
    output:
        csv=report(
            f"{RESULTS}/tables/calibration.csv",
            caption="../report/calibration_csv.rst",
            category="Calibration",
        ),
        markdown=report(
            f"{RESULTS}/tables/calibration.md",
            caption="../report/calibration_md.rst",
            category="Calibration",
        ),
    log:
        f"{LOGS}/evaluate_calibration.log",
    params:
        calibration=CALIBRATION,
        queries=config["queries"],
        runs=calibration_runs(),
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/evaluate_calibration.py"


rule plot_calibration:
    input:
        f"{RESULTS}/tables/calibration.csv",
    output:
        report(
            f"{RESULTS}/figures/calibration.png",
            caption="../report/calibration_png.rst",
            category="Calibration",
        ),
    log:
        f"{LOGS}/plot_calibration.log",
    script:
        "../scripts/plot_calibration.py"
