# Held-out families (beyond the paper; the named target `heldout`, not part of `all`): the robust
# keys and the universal restorer trained once more per family with that family left out, and
# scored on its sweeps' severities (cbir.stages.heldout). `snakemake --cores all heldout`.


rule heldout:
    input:
        lambda wc: LAYOUT.heldout_outputs(),  # an input function: only `heldout` raises


rule train_heldout_keys:
    input:
        train=f"{RESULTS}/data/train.h5",
        validation=f"{RESULTS}/data/validation.h5",
    output:
        model=f"{RESULTS}/models/heldout/keys_without_{{kind}}.pt",
        history=f"{RESULTS}/models/heldout/keys_without_{{kind}}.csv",
    log:
        f"{LOGS}/train_heldout/keys_without_{{kind}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_heldout/keys_without_{{kind}}.tsv"
    wildcard_constraints:
        kind="noise|blur|lowres",
    threads: THREADS
    resources:
        gpu=GPU,
        mem_mb=MEM_MB["train_classifier"],
    params:
        name=lambda wc: f"keys_without_{wc.kind}",
        key_set=lambda wc: f"without_{wc.kind}",
        recipe=lambda wc: LAYOUT.heldout_recipe("keys", wc.kind),
        runtime=config["runtime"],
        seed=replicate_seed(""),
        rescale=config["degradation"]["rescale"],
    script:
        "../scripts/train_heldout_keys.py"


rule train_heldout_universal:
    input:
        train=f"{RESULTS}/data/train.h5",
        validation=f"{RESULTS}/data/validation.h5",
        classifier=LAYOUT.classifier_model("standard"),
    output:
        model=f"{RESULTS}/models/heldout/universal_without_{{kind}}.pt",
        history=f"{RESULTS}/models/heldout/universal_without_{{kind}}.csv",
    log:
        f"{LOGS}/train_heldout/universal_without_{{kind}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_heldout/universal_without_{{kind}}.tsv"
    wildcard_constraints:
        kind="noise|blur|lowres",
    threads: THREADS
    resources:
        gpu=GPU,
        mem_mb=MEM_MB["train_enhancer"],
    params:
        name=lambda wc: f"universal_without_{wc.kind}",
        recipe=lambda wc: LAYOUT.heldout_recipe("universal", wc.kind),
        runtime=config["runtime"],
        seed=replicate_seed(""),
        rescale=config["degradation"]["rescale"],
        classifier_expect=classifier_expectation("standard"),
    script:
        "../scripts/train_heldout_universal.py"


rule evaluate_heldout:
    input:
        unpack(lambda wc: LAYOUT.heldout_inputs()),
    output:
        csv=f"{RESULTS}/tables/heldout.csv",
        markdown=f"{RESULTS}/tables/heldout.md",
        figure=report(
            f"{RESULTS}/figures/heldout.png",
            caption="../report/heldout.rst",
            category="Blind routing",
        ),
    log:
        f"{LOGS}/evaluate_heldout.log",
    threads: THREADS
    resources:
        mem_mb=MEM_MB["search_queries"],
        gpu=GPU,
    params:
        kinds=LAYOUT.heldout_kinds(),
        sweeps={kind: LAYOUT.heldout_sweeps(kind) for kind in LAYOUT.heldout_kinds()},
        severities=LAYOUT.severities,
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        seed=config["seed"],
        evaluation=config["evaluation"],
    script:
        "../scripts/evaluate_heldout.py"
