"""Rule train_heldout_keys: the robust keys trained without one family of degradations.

(train_classifier's script with the names a param: editing that script would make Snakemake
retrain every classifier of every existing run, its code being a rerun trigger.)"""

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
        name=snakemake.params.name,
        rescale=snakemake.params.rescale,
        keys=snakemake.params.key_set,
    )
