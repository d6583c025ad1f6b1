# Raw smallNORB files (downloaded or rendered) or your own image folder, their conversion to HDF5
# splits (the training split as train_all.h5, carved into train.h5 and validation.h5), the
# dataset figure; the code behind every rule is in cbir/stages/data.py and cbir/stages/ingest.py.


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


if not FOLDER:

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


if FOLDER:

    # Your own images (dataset.source folder): the folder or manifest scanned, checked and
    # streamed into the same HDF5 splits (cbir.folder, cbir.stages.ingest).
    rule ingest_folder:
        input:
            folder_inputs(),
        output:
            train_all=f"{RESULTS}/data/train_all.h5",
            test=f"{RESULTS}/data/test.h5",
            report=f"{RESULTS}/data/ingest_report.json",
        log:
            f"{LOGS}/ingest_folder.log",
        benchmark:
            f"{LOGS}/benchmarks/ingest_folder/ingest.tsv"
        threads: 8
        resources:
            mem_mb=MEM_MB["ingest_folder"],
        params:
            folder=config["dataset"]["folder"],
            image_size=config["dataset"]["image_size"],
            channels=config["dataset"]["channels"],
            seed=config["seed"],
        script:
            "../scripts/ingest_folder.py"


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
        dataset_figure_inputs(),
    output:
        report(
            f"{RESULTS}/figures/dataset.png",
            caption="../report/dataset.rst",
            category="Data",
        ),
    log:
        f"{LOGS}/plot_dataset.log",
    params:
        folder=FOLDER,
    script:
        "../scripts/plot_dataset.py"
