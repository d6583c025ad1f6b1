"""Rule embed_images: the classifier's 512-d features of the gallery or a query set."""

from cbir.embedding import embed_image_set
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    embed_image_set(
        model=snakemake.input.model,
        images=snakemake.input.images,
        output=snakemake.output[0],
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )
