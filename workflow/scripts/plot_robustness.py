"""Rule plot_robustness: the robustness curves, a panel per sweep."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import plot_robustness

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_robustness(
        table=snakemake.input.table,
        retrieval=snakemake.input.retrieval,
        clean=snakemake.params.clean,
        distance=snakemake.params.distance,
        k=snakemake.params.k,
        output=snakemake.output[0],
    )
