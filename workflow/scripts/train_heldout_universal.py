"""Rule train_heldout_universal: the universal restorer trained without one family of degradations.

(train_enhancer's script with the name a param: editing that script would make Snakemake retrain
every restorer of every existing run, its code being a rerun trigger.)"""

from cbir.runlog import setup_logging
from cbir.stages.train import train_enhancer

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    train_enhancer(
        name=snakemake.params.name,
        train=snakemake.input.train,
        validation=snakemake.input.validation,
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        recipe=snakemake.params.recipe,
        runtime=snakemake.params.runtime,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        rescale=snakemake.params.rescale,
        classifier=snakemake.input.classifier,
        classifier_expect=snakemake.params.classifier_expect,
    )
