"""Rule evaluate_heldout: each family scored by the remedies trained with and without it."""

from cbir.runlog import setup_logging
from cbir.stages.heldout import evaluate_heldout

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    inputs, params = snakemake.input, snakemake.params
    evaluate_heldout(
        kinds=params.kinds,
        sweeps=params.sweeps,
        severities=params.severities,
        keys_without=list(inputs.keys_without),
        universal_without=list(inputs.universal_without),
        keys_all=inputs.keys_all,
        universal_all=inputs.universal_all,
        standard=inputs.standard,
        gallery=inputs.gallery,
        queries=list(inputs.queries),
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
        figure=snakemake.output.figure,
        runtime=params.runtime,
        batch_size=params.batch_size,
        threads=snakemake.threads,
        seed=params.seed,
        evaluation=params.evaluation,
    )
