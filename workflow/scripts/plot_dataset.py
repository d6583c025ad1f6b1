"""Rule plot_dataset: every object of both splits and one object across the factor grid."""

from cbir.runlog import setup_logging
from cbir.stages.data import plot_dataset

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_dataset(raw_files=list(snakemake.input), output=snakemake.output[0])
