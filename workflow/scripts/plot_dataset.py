"""Rule plot_dataset: smallNORB's objects across its factor grid, or a folder source's classes."""

from cbir.runlog import setup_logging
from cbir.stages.data import plot_dataset, plot_dataset_images

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    if snakemake.params.folder:
        plot_dataset_images(splits=list(snakemake.input), output=snakemake.output[0])
    else:
        plot_dataset(raw_files=list(snakemake.input), output=snakemake.output[0])
