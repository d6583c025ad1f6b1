"""Rule plot_enhancement: clean, degraded and enhanced images with PSNR (the paper's A1-A3)."""

from cbir.plots.training import enhancement_figure
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhancement_figure(
        clean=snakemake.input.clean,
        degraded=snakemake.input.degraded,
        enhanced=snakemake.input.enhanced,
        output=snakemake.output[0],
        seed=snakemake.params.seed,
    )
