# The ResNet classifier and the three enhancement networks (DESIGN section 6).


rule train_classifier:
    input:
        train=f"{RESULTS}/data/train.h5",
        test=f"{RESULTS}/data/test.h5",
    output:
        model=f"{RESULTS}/models/classifier.pt",
        history=f"{RESULTS}/models/classifier.csv",
    params:
        recipe=config["classifier"],
        training=config["training"],
        seed=config["seed"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=16000,
    log:
        f"{LOGS}/train_classifier.log",
    script:
        "../scripts/train_classifier.py"


rule train_enhancer:
    input:
        train=f"{RESULTS}/data/train.h5",
        test=f"{RESULTS}/data/test.h5",
    output:
        model=f"{RESULTS}/models/{{enhancer}}.pt",
        history=f"{RESULTS}/models/{{enhancer}}.csv",
    params:
        recipe=lambda wc: config["enhancers"][wc.enhancer],
        training=config["training"],
        seed=config["seed"],
    threads: workflow.cores
    resources:
        gpu=1,
        mem_mb=16000,
    log:
        f"{LOGS}/train_enhancer/{{enhancer}}.log",
    script:
        "../scripts/train_enhancer.py"


rule evaluate_classifier:
    input:
        model=f"{RESULTS}/models/classifier.pt",
        test=f"{RESULTS}/data/test.h5",
    output:
        table=f"{RESULTS}/tables/classification.json",
        figure=report(f"{RESULTS}/figures/confusion_matrix.png", category="Training"),
    params:
        batch_size=config["embedding"]["batch_size"],
    threads: workflow.cores
    log:
        f"{LOGS}/evaluate_classifier.log",
    script:
        "../scripts/evaluate_classifier.py"


rule plot_learning_curve:
    input:
        f"{RESULTS}/models/{{model}}.csv",
    output:
        report(f"{RESULTS}/figures/learning_curve_{{model}}.png", category="Training"),
    wildcard_constraints:
        model="classifier|" + "|".join(ENHANCERS),
    log:
        f"{LOGS}/plot_learning_curve/{{model}}.log",
    script:
        "../scripts/plot_learning_curve.py"


rule plot_augmentation:
    input:
        f"{RESULTS}/data/train.h5",
    output:
        report(f"{RESULTS}/figures/augmentation.png", category="Training"),
    params:
        augment=config["classifier"]["augment"],
        seed=config["seed"],
    log:
        f"{LOGS}/plot_augmentation.log",
    script:
        "../scripts/plot_augmentation.py"
