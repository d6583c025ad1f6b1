"""Rule plot_learning_curve: loss and accuracy/PSNR per epoch of one trained network."""

from cbir.plots.training import learning_curve_figure
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    learning_curve_figure(snakemake.input[0], snakemake.output[0], title=snakemake.wildcards.model)
