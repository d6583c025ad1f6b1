"""Rule evaluate_enhancement: enhancement.csv and enhancement.md, what each remedy changes."""

from cbir.runlog import setup_logging
from cbir.stages.report import evaluate_enhancement

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    params = snakemake.params  # plan, queries, restored and tuned give the order of the input lists
    evaluate_enhancement(
        galleries=list(snakemake.input.galleries),
        plan=[list(entry) for entry in params.plan],
        embeddings=list(snakemake.input.embeddings),
        results=list(snakemake.input.results),
        key_sets=list(params.key_sets),
        replicates=params.replicates,
        ks=list(params.ks),
        clean_images=snakemake.input.clean,
        degraded=dict(zip(params.queries, snakemake.input.degraded, strict=True)),
        restored=dict(zip(params.restored, snakemake.input.restored, strict=True)),
        enhance={query: list(names) for query, names in params.enhance.items()},
        clean=params.clean,
        evaluation=dict(params.evaluation),
        seed=params.seed,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
        tuned=dict(zip(params.tuned, snakemake.input.tuned, strict=True)),
        networks=list(params.networks),
    )
