"""Rule evaluate_detector: the detector's confusion on the mixed test queries and across the sweeps."""

from cbir.runlog import setup_logging
from cbir.stages.detect import evaluate_detector

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_detector(
        models=list(snakemake.input.models),
        queries=dict(zip(snakemake.params.mixtures, snakemake.input.queries, strict=True)),
        test=snakemake.input.test,
        extremes=snakemake.params.extremes,
        expect=snakemake.params.expect,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
        figure=snakemake.output.figure,
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
        evaluation=snakemake.params.evaluation,
    )
