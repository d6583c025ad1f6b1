"""Rule embed_images: the classifier's 512-d features of the gallery or a query set."""

from cbir.runlog import setup_logging
from cbir.stages.retrieve import embed_images

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    embed_images(
        model=snakemake.input.model,
        images=snakemake.input.images,
        output=snakemake.output[0],
        name=snakemake.params.name,
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        expect=snakemake.params.expect,  # what the checkpoint must be (cbir.checkpoint.check_expected)
    )
