"""Rule split_validation: the training split -> the images networks train on and the validation objects."""

from cbir.runlog import setup_logging
from cbir.stages.data import split_validation

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    split_validation(
        source=snakemake.input[0],
        train=snakemake.output.train,
        validation=snakemake.output.validation,
        instances_per_class=snakemake.params.validation["instances_per_class"],
        share=snakemake.params.validation["share"],
        seed=snakemake.params.seed,
    )
