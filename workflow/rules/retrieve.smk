# Embeddings and exact top-k search (see docs/design.md, Rule graph).


rule embed_images:
    input:
        model=f"{RESULTS}/models/classifier.pt",
        images=embed_source,
    output:
        f"{RESULTS}/embeddings/{{name}}.h5",
    log:
        f"{LOGS}/embed_images/{{name}}.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_images/{{name}}.tsv"
    wildcard_constraints:
        name="|".join(["gallery", *QUERY_SETS]),
    threads: 8
    resources:
        mem_mb=MEM_MB["embed_images"],
        gpu=GPU,
    params:
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
