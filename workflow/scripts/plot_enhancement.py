"""Rule plot_enhancement: clean, degraded and enhanced images with PSNR (the paper's A1-A3)."""

from cbir.runlog import setup_logging
from cbir.stages.enhance import plot_enhancement

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_enhancement(
        clean=snakemake.input.clean,
        degraded=snakemake.input.degraded,
        enhanced=snakemake.input.enhanced,
        output=snakemake.output[0],
        seed=snakemake.params.seed,
    )
