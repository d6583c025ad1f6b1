"""Rule degrade_queries: one degraded query set from the test split."""

from cbir.runlog import setup_logging
from cbir.stages.degrade import degrade_query_set

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    degrade_query_set(
        test=snakemake.input[0],
        output=snakemake.output[0],
        specs=snakemake.params.specs,
        query=snakemake.wildcards.query,
        stream=snakemake.params.stream,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
    )
