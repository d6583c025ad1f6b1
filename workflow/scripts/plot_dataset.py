"""Rule plot_dataset: every object of both splits and one object across the factor grid."""

from pathlib import Path

from cbir.plots.dataset import plot_dataset
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    # The inputs are the six raw files (plain or .gz) of one folder.
    plot_dataset(folder=Path(snakemake.input[0]).parent, out_png=snakemake.output[0])
