# Embeddings and exact top-k search, once per key set (`standard` and config `keys`) and replicate.


# The gallery (the training split) has a rule of its own: the severity sweeps search it too.
rule embed_gallery:
    input:
        model=lambda wc: classifier_model(wc.key_set, wc.rep),
        images=f"{RESULTS}/data/train.h5",
    output:
        f"{RESULTS}/embeddings/{{key_set}}{{rep}}/gallery.h5",
    log:
        f"{LOGS}/embed_images/{{key_set}}{{rep}}/gallery.log",
    benchmark:
        f"{LOGS}/benchmarks/embed_gallery/{{key_set}}{{rep}}.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["embed_images"],
        gpu=GPU,
    params:
        name="gallery",
        expect=lambda wc: classifier_expectation(wc.key_set, wc.rep),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
    script:
        "../scripts/embed_images.py"


# Every query set of one split, key set and replicate in one job (one start of torch, the
# classifier loaded once): the unrestored and classically restored sets, and those restored by
# the replicate's own networks (file names tagged like the replicate).
rule search_queries:
    input:
        unpack(search_inputs),
    output:
        embeddings=search_outputs("embeddings", SEARCHED_SHARED, SEARCHED_OWN),
        results=search_outputs("retrieval", SEARCHED_SHARED, SEARCHED_OWN),
    log:
        f"{LOGS}/search_queries/{{key_set}}{{rep}}/{{part}}queries.log",
    benchmark:
        f"{LOGS}/benchmarks/search_queries/{{key_set}}{{rep}}/{{part}}queries.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["search_queries"],
        gpu=GPU,
    params:
        names=SEARCHED_SHARED + SEARCHED_OWN,
        expect=lambda wc: classifier_expectation(wc.key_set, wc.rep),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        # not the whole section: a change of retrieval.ks reruns the tables only
        retrieval={
            k: config["retrieval"][k] for k in ("distances", "topk", "chunk_size")
        },
    script:
        "../scripts/search_queries.py"


# With replicates: replicate r's restored sets searched with the next replicate's standard keys,
# a classifier the restorers were never trained through (the `judge` columns).
rule judge_restorers:
    input:
        unpack(judge_inputs),
    output:
        embeddings=search_outputs("embeddings", [], SEARCHED_OWN, folder="judge"),
        results=search_outputs("retrieval", [], SEARCHED_OWN, folder="judge"),
    log:
        f"{LOGS}/search_queries/judge{{rep}}/{{part}}queries.log",
    benchmark:
        f"{LOGS}/benchmarks/search_queries/judge{{rep}}/{{part}}queries.tsv"
    threads: THREADS
    resources:
        mem_mb=MEM_MB["search_queries"],
        gpu=GPU,
    params:
        names=SEARCHED_OWN,
        expect=lambda wc: classifier_expectation("standard", judge_tag(wc.rep)),
        runtime=config["runtime"],
        batch_size=config["inference"]["batch_size"],
        # not the whole section: a change of retrieval.ks reruns the tables only
        retrieval={
            k: config["retrieval"][k] for k in ("distances", "topk", "chunk_size")
        },
    script:
        "../scripts/search_queries.py"
