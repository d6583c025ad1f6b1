"""Rule convert_norb_to_hdf5: one smallNORB split to an HDF5 image set."""

from cbir.runlog import setup_logging
from cbir.stages.data import convert_split

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    convert_split(
        dat=snakemake.input.dat,
        cat=snakemake.input.cat,
        info=snakemake.input.info,
        output=snakemake.output[0],
        image_size=snakemake.params.image_size,
        subset=snakemake.params.subset,
        source=snakemake.params.source,
    )
