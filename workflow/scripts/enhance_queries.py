"""Rule enhance_queries: a degraded query set restored by one of its enhancers."""

from cbir.runlog import setup_logging
from cbir.stages.enhance import enhance_query_set

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhance_query_set(
        queries=snakemake.input.queries,
        model=snakemake.input.get("model"),  # absent for a classical method
        tuned=snakemake.input.get("tuned"),  # a classical method's auto parameters
        output=snakemake.output[0],
        query=snakemake.wildcards.query,
        name=snakemake.wildcards.enhancer,
        enhancer=dict(snakemake.params.enhancer),
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        expect=snakemake.params.expect,  # a network's checkpoint: this enhancer, recipe and seed
    )
