"""Rule mix_queries: a query set of unannounced degradations, drawn from configured query sets."""

from cbir.runlog import setup_logging
from cbir.stages.degrade import mix_query_set

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    mix_query_set(
        test=snakemake.input[0],
        output=snakemake.output[0],
        queries=snakemake.params.queries,
        members=snakemake.params.members,
        query=snakemake.wildcards.query,
        stream=snakemake.params.stream,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
        threads=snakemake.threads,
    )
