"""Rule ingest_folder: a folder (or manifest) of labelled images to the HDF5 splits."""

from cbir.runlog import setup_logging
from cbir.stages.ingest import ingest_folder

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    ingest_folder(
        folder=snakemake.params.folder,
        image_size=snakemake.params.image_size,
        channels=snakemake.params.channels,
        seed=snakemake.params.seed,
        train_all=snakemake.output.train_all,
        test=snakemake.output.test,
        report=snakemake.output.report,
        threads=snakemake.threads,
    )
