"""Rule download_smallnorb: fetch one official smallNORB file."""

from pathlib import Path

from cbir.download import download_file
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    output = Path(snakemake.output[0])
    download_file(
        base_url=snakemake.params.url,
        name=output.name,
        dest=output,
        checksum=snakemake.params.checksum,
        retries=snakemake.params.retries,
        timeout=snakemake.params.timeout,
    )
