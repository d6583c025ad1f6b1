# The ResNet classifier and the three enhancement networks (paper section IV.B).
# Every rule that puts a network on a device asks for a GPU (none with runtime.device: cpu) and reads config `runtime`.


rule train_classifier:
    input:
        train=f"{RESULTS}/data/train.h5",
        validation=f"{RESULTS}/data/validation.h5",
    output:
        model=f"{RESULTS}/models/{{classifier}}{{rep}}.pt",
        history=f"{RESULTS}/models/{{classifier}}{{rep}}.csv",
    log:
        f"{LOGS}/train_classifier/{{classifier}}{{rep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_classifier/{{classifier}}{{rep}}.tsv"
    wildcard_constraints:
        classifier="|".join(KEYS_OF),
    threads: THREADS
    resources:
        gpu=GPU,
        mem_mb=MEM_MB["train_classifier"],
    params:
        recipe=lambda wc: classifier_recipe(KEYS_OF[wc.classifier]),
        key_set=lambda wc: KEYS_OF[wc.classifier],
        runtime=config["runtime"],
        seed=lambda wc: replicate_seed(wc.rep),
        rescale=config["degradation"]["rescale"],
    script:
        "../scripts/train_classifier.py"


rule train_enhancer:
    input:
        unpack(enhancer_training_inputs),
    output:
        model=f"{RESULTS}/models/{{enhancer}}{{rep}}.pt",
        history=f"{RESULTS}/models/{{enhancer}}{{rep}}.csv",
    log:
        f"{LOGS}/train_enhancer/{{enhancer}}{{rep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_enhancer/{{enhancer}}{{rep}}.tsv"
    wildcard_constraints:
        enhancer="|".join(TRAINED) or "(?!)",
    threads: THREADS
    resources:
        gpu=GPU,
        mem_mb=MEM_MB["train_enhancer"],
    params:
        recipe=lambda wc: config["enhancers"][wc.enhancer],
        runtime=config["runtime"],
        seed=lambda wc: replicate_seed(wc.rep),
        rescale=config["degradation"]["rescale"],
        classifier_expect=feature_classifier_expectation,
    script:
        "../scripts/train_enhancer.py"


# The degradation detector (config `detector`), when an enhancer routes by it.
rule train_detector:
    input:
        train=f"{RESULTS}/data/train.h5",
        validation=f"{RESULTS}/data/validation.h5",
    output:
        model=f"{RESULTS}/models/detector{{rep}}.pt",
        history=f"{RESULTS}/models/detector{{rep}}.csv",
    log:
        f"{LOGS}/train_detector/detector{{rep}}.log",
    benchmark:
        f"{LOGS}/benchmarks/train_detector/detector{{rep}}.tsv"
    threads: THREADS
    resources:
        gpu=GPU,
        mem_mb=MEM_MB["train_enhancer"],
    params:
        recipe=config["detector"],
        pools=LAYOUT.detector_pools(),
        runtime=config["runtime"],
        seed=lambda wc: replicate_seed(wc.rep),
        rescale=config["degradation"]["rescale"],
    script:
        "../scripts/train_detector.py"


rule evaluate_classifier:
    input:
        model=f"{RESULTS}/models/classifier.pt",
        test=f"{RESULTS}/data/test.h5",
    output:
        table=f"{RESULTS}/tables/classification.json",
        figure=report(
            f"{RESULTS}/figures/confusion_matrix.png",
            caption="../report/confusion_matrix.rst",
            category="Training",
            subcategory="classifier",
        ),
    log:
        f"{LOGS}/evaluate_classifier.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate_classifier/classifier.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["evaluate_classifier"],
        gpu=GPU,
    params:
        batch_size=config["inference"]["batch_size"],
        runtime=config["runtime"],
        expect=classifier_expectation("standard"),
    script:
        "../scripts/evaluate_classifier.py"


rule plot_learning_curve:
    input:
        f"{RESULTS}/models/{{model}}.csv",
    output:
        report(
            f"{RESULTS}/figures/learning_curve_{{model}}.png",
            caption="../report/learning_curve.rst",
            category="Training",
            subcategory="learning curves",
        ),
    log:
        f"{LOGS}/plot_learning_curve/{{model}}.log",
    wildcard_constraints:
        model="|".join([*KEYS_OF, *TRAINED, "detector"]),
    script:
        "../scripts/plot_learning_curve.py"


rule plot_augmentation:
    input:
        f"{RESULTS}/data/train.h5",
    output:
        report(
            f"{RESULTS}/figures/augmentation.png",
            caption="../report/augmentation.rst",
            category="Training",
            subcategory="classifier",
        ),
    log:
        f"{LOGS}/plot_augmentation.log",
    params:
        augment=config["classifier"]["augment"],
        seed=config["seed"],
    script:
        "../scripts/plot_augmentation.py"
