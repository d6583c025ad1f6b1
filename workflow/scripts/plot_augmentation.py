"""Rule plot_augmentation: training images and augmented versions (the paper's Figure 2)."""

from cbir.augment import augmentation_figure
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    augmentation_figure(
        snakemake.input[0],
        snakemake.output[0],
        params=dict(snakemake.params.augment),
        seed=snakemake.params.seed,
    )
