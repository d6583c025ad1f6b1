"""Rule degrade_calibration: every grid strength of every calibrated query set."""

from cbir.runlog import setup_logging
from cbir.stages.calibrate import degrade_calibration

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    degrade_calibration(
        validation=snakemake.input[0],
        outputs=list(snakemake.output),
        grids=snakemake.params.grids,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
    )
