"""Rule train_enhancer: one restoration network on degraded training images."""

from cbir.runlog import setup_logging
from cbir.stages.train import train_enhancer

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    train_enhancer(
        name=snakemake.wildcards.enhancer,
        train=snakemake.input.train,
        validation=snakemake.input.validation,
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        recipe=snakemake.params.recipe,
        runtime=snakemake.params.runtime,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        rescale=snakemake.params.rescale,
        classifier=snakemake.input.get("classifier"),  # only when the loss has a feature term
        classifier_expect=snakemake.params.classifier_expect,  # what that classifier must be
    )
