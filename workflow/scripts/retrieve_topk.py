"""Rule retrieve_topk: exact top-k search of one query set's embeddings in the gallery."""

from cbir.runlog import setup_logging
from cbir.search import retrieve

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    retrieve(
        gallery_path=snakemake.input.gallery,
        queries_path=snakemake.input.queries,
        output=snakemake.output[0],
        metrics=list(snakemake.params.metrics),
        k=snakemake.params.topk,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
    )
