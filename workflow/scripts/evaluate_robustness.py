"""Rule evaluate_robustness: robustness.csv and robustness.md from every sweep retrieval (both splits)."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import evaluate_robustness

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    key_sets = list(snakemake.params.key_sets)  # the order of every per-key-set input
    evaluate_robustness(
        retrieval=snakemake.input.retrieval,
        galleries=dict(zip(key_sets, snakemake.input.galleries, strict=True)),
        runs=[tuple(run) for run in snakemake.params.runs],
        embeddings=list(snakemake.input.embeddings),
        results=list(snakemake.input.results),
        clean_embeddings=dict(zip(key_sets, snakemake.input.clean_embeddings, strict=True)),
        clean_results=dict(zip(key_sets, snakemake.input.clean_results, strict=True)),
        clean=snakemake.params.clean,
        ks=list(snakemake.params.ks),
        k=snakemake.params.k,
        evaluation=dict(snakemake.params.evaluation),
        seed=snakemake.params.seed,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
    )
