"""Rule plot_retrieval: a query set's queries and their top-10 results (Figures A4/A5)."""

from cbir.plots.retrieval import plot_retrieval
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_retrieval(
        results_path=snakemake.input.results,
        queries_path=snakemake.input.queries,
        gallery_path=snakemake.input.gallery,
        out_png=snakemake.output[0],
        n_queries=snakemake.params.n_queries,
        seed=snakemake.params.seed,
    )
