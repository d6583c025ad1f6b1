"""Rule train_detector: the network that tells a query's degradation kind."""

from cbir.runlog import setup_logging
from cbir.stages.train import train_detector

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    train_detector(
        train=snakemake.input.train,
        validation=snakemake.input.validation,
        model_path=snakemake.output.model,
        history_path=snakemake.output.history,
        recipe=snakemake.params.recipe,
        pools=snakemake.params.pools,
        runtime=snakemake.params.runtime,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        rescale=snakemake.params.rescale,
    )
