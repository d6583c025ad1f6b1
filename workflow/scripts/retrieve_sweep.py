"""Rule retrieve_sweep: one sweep's image sets embedded and searched with one key set."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import retrieve_sweep

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    retrieve_sweep(
        model=snakemake.input.model,
        gallery=snakemake.input.gallery,
        queries=list(snakemake.input.queries),
        embeddings=list(snakemake.output.embeddings),
        results=list(snakemake.output.results),
        sweep=snakemake.wildcards.sweep,
        enhancer=snakemake.wildcards.enhancer,
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        distances=list(snakemake.params.distances),
        k=snakemake.params.topk,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
        expect=snakemake.params.expect,
    )
