"""Rule evaluate_robustness: robustness.csv and robustness.md from every sweep retrieval."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import evaluate_robustness

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_robustness(
        retrieval=snakemake.input.retrieval,
        galleries=dict(zip(snakemake.params.key_sets, snakemake.input.galleries, strict=True)),
        runs=[tuple(run) for run in snakemake.params.runs],
        embeddings=list(snakemake.input.embeddings),
        results=list(snakemake.input.results),
        clean=snakemake.params.clean,
        ks=list(snakemake.params.ks),
        distance=snakemake.params.distance,
        k=snakemake.params.k,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
    )
