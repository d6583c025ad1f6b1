"""Rule plot_degradations: the paper's Figure 6, degraded versions of a few test images."""

from cbir.runlog import setup_logging
from cbir.stages.degrade import plot_degradations

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_degradations(
        test=snakemake.input[0],
        output=snakemake.output[0],
        queries=snakemake.params.queries,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
    )
