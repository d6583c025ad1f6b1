"""Rule evaluate_enhancement: enhancement.csv and enhancement.md, the gap each restorer closes."""

from cbir.runlog import setup_logging
from cbir.stages.report import evaluate_enhancement

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    params = snakemake.params  # queries and restored give the order of the two input lists
    evaluate_enhancement(
        retrieval=snakemake.input.retrieval,
        test=snakemake.input.test,
        degraded=dict(zip(params.queries, snakemake.input.degraded, strict=True)),
        restored=dict(zip(params.restored, snakemake.input.restored, strict=True)),
        enhance={query: list(names) for query, names in params.enhance.items()},
        clean=params.clean,
        csv=snakemake.output.csv,
        markdown=snakemake.output.markdown,
    )
