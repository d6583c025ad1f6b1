"""Rule evaluate_retrieval: retrieval.csv, table1.md and queries.md from all key sets and query sets."""

from cbir.runlog import setup_logging
from cbir.stages.report import evaluate_retrieval


def keys_major(paths, key_sets, qsets):
    """key set -> query set -> path from a list ordered `for keys in key_sets: for qset in qsets`."""
    paths = list(paths)
    if len(paths) != len(key_sets) * len(qsets):
        raise ValueError(f"{len(paths)} files for {len(key_sets)} key sets x {len(qsets)} query sets")
    chunks = [paths[i : i + len(qsets)] for i in range(0, len(paths), len(qsets))]
    return {keys: dict(zip(qsets, chunk, strict=True)) for keys, chunk in zip(key_sets, chunks, strict=True)}


if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    # `keys` is reserved by Snakemake's Namedlist (a method), so the key sets come as `key_sets`.
    key_sets, qsets = list(snakemake.params.key_sets), list(snakemake.params.qsets)  # the input lists' order
    evaluate_retrieval(
        galleries=dict(zip(key_sets, snakemake.input.galleries, strict=True)),
        embeddings=keys_major(snakemake.input.embeddings, key_sets, qsets),
        results=keys_major(snakemake.input.results, key_sets, qsets),
        ks=list(snakemake.params.ks),
        defaults=dict(snakemake.params.defaults),
        csv=snakemake.output.csv,
        table1=snakemake.output.table1,
        per_query=snakemake.output.per_query,
    )
