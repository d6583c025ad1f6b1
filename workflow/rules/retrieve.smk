# Embeddings and exact top-k search (see docs/design.md, Rule graph).


# The gallery has a rule of its own so that each query set's chain (degrade, restore, embed,
# search, plot) is one connected group of jobs on a cluster (profiles/slurm `groups`).
rule embed_gallery:
    input:
        model=f"{RESULTS}/models/classifier.pt",
        images=f"{RESULTS}/data/train.h5",
    output:
        f"{RESULTS}/embeddings/gallery.h5",
    log:
        f"{LOGS}/embed_images/gallery.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_gallery/gallery.tsv"
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
        model=f"{RESULTS}/models/classifier.pt",
        images=f"{RESULTS}/queries/{{qset}}.h5",
    output:
        f"{RESULTS}/embeddings/{{qset}}.h5",
    log:
        f"{LOGS}/embed_images/{{qset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_images/{{qset}}.tsv"
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
        gallery=f"{RESULTS}/embeddings/gallery.h5",
        queries=f"{RESULTS}/embeddings/{{qset}}.h5",
    output:
        f"{RESULTS}/retrieval/{{qset}}.h5",
    log:
        f"{LOGS}/retrieve_topk/{{qset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/retrieve_topk/{{qset}}.tsv"
    threads: 8
    resources:
        mem_mb=MEM_MB["retrieve_topk"],
    params:
        distances=config["retrieval"]["distances"],
        topk=config["retrieval"]["topk"],
        chunk_size=config["retrieval"]["chunk_size"],
    script:
        "../scripts/retrieve_topk.py"
