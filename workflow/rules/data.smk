# Raw smallNORB files (downloaded or rendered), their conversion to HDF5 splits (the official
# training split as train_all.h5, carved into train.h5 and validation.h5), the dataset figure; the code behind every rule is in cbir/stages/data.py.


# Compute nodes are often offline: the download runs where Snakemake runs.
localrules:
    download_smallnorb,


rule download_smallnorb:
    output:
        "resources/smallnorb/{file}.mat.gz",
    log:
        "logs/download_smallnorb/{file}.log",
    wildcard_constraints:
        file=r"smallnorb-5x\w+-\w+-(dat|cat|info)",
    params:
        url=config["dataset"]["smallnorb"]["url"],
        checksum=lambda wc: config["dataset"]["smallnorb"]["checksums"].get(
            f"{wc.file}.mat.gz"
        ),
        retries=config["dataset"]["smallnorb"]["retries"],
        timeout=config["dataset"]["smallnorb"]["timeout_s"],
    script:
        "../scripts/download_smallnorb.py"


rule synthesize_smallnorb:
    output:
        [f"resources/synthnorb/{official_name(s, k)}" for s in SPLITS for k in KINDS],
    log:
        "logs/synthesize_smallnorb.log",
    benchmark:
        "logs/benchmarks/synthesize_smallnorb.tsv"
    threads: 8
    resources:
        mem_mb=MEM_MB["synthesize_smallnorb"],
    params:
        synthetic=config["dataset"]["synthetic"],
    script:
        "../scripts/synthesize_smallnorb.py"


rule convert_norb_to_hdf5:
    input:
        unpack(raw_split),
    output:
        f"{RESULTS}/data/{{split}}.h5",
    log:
        f"{LOGS}/convert_norb_to_hdf5/{{split}}.log",
    benchmark:
        f"{LOGS}/benchmarks/convert_norb_to_hdf5/{{split}}.tsv"
    resources:
        mem_mb=MEM_MB["convert_norb_to_hdf5"],
    params:
        image_size=config["dataset"]["image_size"],
        subset=config["dataset"]["subset"],
        source=config["dataset"]["source"],
    script:
        "../scripts/convert_norb_to_hdf5.py"


rule split_validation:
    input:
        f"{RESULTS}/data/train_all.h5",
    output:
        train=f"{RESULTS}/data/train.h5",
        validation=f"{RESULTS}/data/validation.h5",
    log:
        f"{LOGS}/split_validation.log",
    params:
        validation=config["validation"],
        seed=config["seed"],
    script:
        "../scripts/split_validation.py"


rule plot_dataset:
    input:
        all_raw_files(),
    output:
        report(f"{RESULTS}/figures/dataset.png", category="Data"),
    log:
        f"{LOGS}/plot_dataset.log",
    script:
        "../scripts/plot_dataset.py"
