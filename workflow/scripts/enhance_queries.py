"""Rule enhance_queries: a degraded query set restored by its enhancer."""

from cbir.embedding import enhance_image_set
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhance_image_set(
        model=snakemake.input.model,
        images=snakemake.input.queries,
        output=snakemake.output[0],
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )
