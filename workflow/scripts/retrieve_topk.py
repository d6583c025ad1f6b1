"""Rule retrieve_topk: exact top-k search of one query set's embeddings in the gallery."""

from cbir.runlog import setup_logging
from cbir.stages.retrieve import retrieve_topk

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    retrieve_topk(
        gallery=snakemake.input.gallery,
        queries=snakemake.input.queries,
        output=snakemake.output[0],
        distances=list(snakemake.params.distances),
        k=snakemake.params.topk,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
    )
