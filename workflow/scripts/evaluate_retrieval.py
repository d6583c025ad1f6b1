"""Rule evaluate_retrieval: retrieval.csv, table1.md and queries.md from all query sets."""

from cbir.runlog import setup_logging
from cbir.stages.report import evaluate_retrieval

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    qsets = snakemake.params.qsets  # the order of both input lists
    evaluate_retrieval(
        gallery=snakemake.input.gallery,
        embeddings=dict(zip(qsets, snakemake.input.embeddings, strict=True)),
        results=dict(zip(qsets, snakemake.input.results, strict=True)),
        ks=list(snakemake.params.ks),
        defaults=dict(snakemake.params.defaults),
        csv=snakemake.output.csv,
        table1=snakemake.output.table1,
        per_query=snakemake.output.per_query,
    )
