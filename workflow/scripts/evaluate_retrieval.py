"""Rule evaluate_retrieval: retrieval.csv, table1.md and queries.md from every search of one split."""

from cbir.runlog import setup_logging
from cbir.stages.report import evaluate_retrieval

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    params = snakemake.params  # `keys` is reserved by Snakemake's Namedlist, so the key sets come as `key_sets`
    evaluate_retrieval(
        galleries=list(snakemake.input.galleries),
        plan=[list(entry) for entry in params.plan],
        embeddings=list(snakemake.input.embeddings),
        results=list(snakemake.input.results),
        key_sets=list(params.key_sets),
        replicates=params.replicates,
        ks=list(params.ks),
        defaults=dict(params.defaults),
        evaluation=dict(params.evaluation),
        seed=params.seed,
        csv=snakemake.output.csv,
        table1=snakemake.output.table1,
        per_query=snakemake.output.per_query,
    )
