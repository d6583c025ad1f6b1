"""Rule download_smallnorb: fetch one official smallNORB file."""

from cbir.runlog import setup_logging
from cbir.stages.data import download

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    download(
        output=snakemake.output[0],
        url=snakemake.params.url,
        checksum=snakemake.params.checksum,
        retries=snakemake.params.retries,
        timeout=snakemake.params.timeout,
    )
