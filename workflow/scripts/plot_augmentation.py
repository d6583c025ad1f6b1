"""Rule plot_augmentation: training images and augmented versions (the paper's Figure 2)."""

from cbir.runlog import setup_logging
from cbir.stages.train import plot_augmentation

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_augmentation(
        train=snakemake.input[0],
        figure=snakemake.output[0],
        augment=snakemake.params.augment,
        seed=snakemake.params.seed,
    )
