"""Rule plot_learning_curve: loss and accuracy/PSNR per epoch of one trained network."""

from cbir.runlog import setup_logging
from cbir.stages.train import plot_learning_curve

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_learning_curve(history=snakemake.input[0], figure=snakemake.output[0], title=snakemake.wildcards.model)
