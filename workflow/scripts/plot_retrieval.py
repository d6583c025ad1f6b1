"""Rule plot_retrieval: a query set's queries and their top-10 results (Figures A4/A5)."""

from cbir.runlog import setup_logging
from cbir.stages.report import plot_retrieval

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_retrieval(
        results=snakemake.input.results,
        queries=snakemake.input.queries,
        gallery=snakemake.input.gallery,
        output=snakemake.output[0],
        name=snakemake.wildcards.qset,
        n_queries=snakemake.params.n_queries,
        seed=snakemake.params.seed,
    )
