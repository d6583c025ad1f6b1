"""Rule evaluate_retrieval: retrieval.csv, table1.md and queries.md from all query sets."""

from cbir.runlog import setup_logging
from cbir.tables import evaluate_retrieval

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_retrieval(
        gallery=snakemake.input.gallery,
        queries=list(snakemake.input.queries),
        results=list(snakemake.input.results),
        qsets=list(snakemake.params.qsets),
        ks=list(snakemake.params.ks),
        enhance=dict(snakemake.params.enhance),
        csv=snakemake.output.csv,
        table1=snakemake.output.table1,
        per_query=snakemake.output.per_query,
    )
