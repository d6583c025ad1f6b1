"""Rule convert_norb_to_hdf5: one smallNORB split to an HDF5 image set."""

from cbir.convert import convert_split
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    convert_split(
        dat=snakemake.input.dat,
        cat=snakemake.input.cat,
        info=snakemake.input.info,
        output=snakemake.output[0],
        image_size=snakemake.params.image_size,
        subset=dict(snakemake.params.subset),
        source=snakemake.params.source,
    )
