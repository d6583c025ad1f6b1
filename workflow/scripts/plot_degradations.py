"""Rule plot_degradations: the paper's Figure 6, degraded versions of a few test images."""

from cbir.plots.degradations import plot_degradations
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    options = dict(snakemake.params.options)
    plot_degradations(
        snakemake.input[0],
        snakemake.output[0],
        seed=snakemake.params.seed,
        rescale=options.get("rescale", "minmax"),
    )
