"""Rule evaluate_blind: the remedies for unannounced degradations, from the stored searches."""

from cbir.runlog import setup_logging
from cbir.stages.blind import evaluate_blind

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    params = snakemake.params
    evaluate_blind(
        galleries=snakemake.input.galleries,
        plan=params.plan,
        embeddings=snakemake.input.embeddings,
        results=snakemake.input.results,
        key_sets=params.key_sets,
        replicates=params.replicates,
        ks=params.ks,
        evaluation=params.evaluation,
        seed=params.seed,
        table_plan=params.table_plan,
        clean=params.clean,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
    )
