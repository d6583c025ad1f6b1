"""Rule synthesize_smallnorb: render the smallNORB-format surrogate into resources/synthnorb/."""

from pathlib import Path

from cbir.runlog import setup_logging
from cbir.stages.data import synthesize

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    synthesize(
        folder=Path(snakemake.output[0]).parent,
        synthetic=snakemake.params.synthetic,
        threads=snakemake.threads,
    )
