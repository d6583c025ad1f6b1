"""Rule enhance_queries: a degraded query set restored by its enhancer."""

from cbir.runlog import setup_logging
from cbir.stages.enhance import enhance_query_set

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhance_query_set(
        model=snakemake.input.model,
        queries=snakemake.input.queries,
        output=snakemake.output[0],
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )
