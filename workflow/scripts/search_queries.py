"""Rule search_queries (and judge_restorers): every query set of one split embedded by one
classifier and searched against its gallery."""

from cbir.runlog import setup_logging
from cbir.stages.retrieve import search_query_sets

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    retrieval = snakemake.params.retrieval
    search_query_sets(
        model=snakemake.input.model,
        gallery=snakemake.input.gallery,
        images=list(snakemake.input.images),
        names=list(snakemake.params.names),
        embeddings=list(snakemake.output.embeddings),
        results=list(snakemake.output.results),
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        distances=list(retrieval["distances"]),
        k=retrieval["topk"],
        chunk_size=retrieval["chunk_size"],
        threads=snakemake.threads,
        expect=snakemake.params.expect,  # what the checkpoint must be (cbir.checkpoint.check_expected)
    )
