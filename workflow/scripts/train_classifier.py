"""Rule train_classifier: the ResNet classifier of one key set on the training split."""

from cbir.runlog import setup_logging
from cbir.stages.train import train_classifier

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    train_classifier(
        train=snakemake.input.train,
        validation=snakemake.input.validation,
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        recipe=snakemake.params.recipe,
        runtime=snakemake.params.runtime,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        name=snakemake.wildcards.classifier,
        rescale=snakemake.params.rescale,
        keys=snakemake.params.key_set,  # the key set the checkpoint records
    )
