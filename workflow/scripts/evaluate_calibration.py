"""Rule evaluate_calibration: the drop curves and the strengths read off them."""

from cbir.runlog import setup_logging
from cbir.stages.calibrate import evaluate_calibration

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_calibration(
        calibration=snakemake.params.calibration,
        queries=snakemake.params.queries,
        runs=snakemake.params.runs,
        galleries=list(snakemake.input.galleries),
        clean_embeddings=list(snakemake.input.clean_embeddings),
        clean_results=list(snakemake.input.clean_results),
        embeddings=list(snakemake.input.embeddings),
        results=list(snakemake.input.results),
        evaluation=snakemake.params.evaluation,
        seed=snakemake.params.seed,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
    )
