# Embeddings and exact top-k search, once per key set (`standard` and config `keys`).


# The gallery has a rule of its own so that each query set's chain (degrade, restore, embed,
# search, plot) is one connected group of jobs on a cluster (profiles/slurm `groups`).
rule embed_gallery:
    input:
        model=lambda wc: classifier_model(wc.keyset),
        images=f"{RESULTS}/data/train.h5",
    output:
        f"{RESULTS}/embeddings/{{keyset}}/gallery.h5",
    log:
        f"{LOGS}/embed_images/{{keyset}}/gallery.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_gallery/{{keyset}}.tsv"
    threads: 8
    resources:
        mem_mb=MEM_MB["embed_images"],
        gpu=GPU,
    params:
        name="gallery",
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/embed_images.py"


rule embed_images:
    input:
        model=lambda wc: classifier_model(wc.keyset),
        images=f"{RESULTS}/queries/{{qset}}.h5",
    output:
        f"{RESULTS}/embeddings/{{keyset}}/{{qset}}.h5",
    log:
        f"{LOGS}/embed_images/{{keyset}}/{{qset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_images/{{keyset}}/{{qset}}.tsv"
    threads: 8
    resources:
        mem_mb=MEM_MB["embed_images"],
        gpu=GPU,
    params:
        name=lambda wc: wc.qset,
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/embed_images.py"


rule retrieve_topk:
    input:
        gallery=f"{RESULTS}/embeddings/{{keyset}}/gallery.h5",
        queries=f"{RESULTS}/embeddings/{{keyset}}/{{qset}}.h5",
    output:
        f"{RESULTS}/retrieval/{{keyset}}/{{qset}}.h5",
    log:
        f"{LOGS}/retrieve_topk/{{keyset}}/{{qset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/retrieve_topk/{{keyset}}/{{qset}}.tsv"
    threads: 8
    resources:
        mem_mb=MEM_MB["retrieve_topk"],
    params:
        distances=config["retrieval"]["distances"],
        topk=config["retrieval"]["topk"],
        chunk_size=config["retrieval"]["chunk_size"],
    script:
        "../scripts/retrieve_topk.py"
