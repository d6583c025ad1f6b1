"""Rules degrade_sweep and degrade_calibration: the query sets of every severity of one sweep
(or every grid strength of one calibrated query set)."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import degrade_sweep

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    degrade_sweep(
        test=snakemake.input[0],
        outputs=list(snakemake.output),
        severities=snakemake.params.severities,
        sweep=snakemake.params.name,
        stream=snakemake.params.stream,
        seed=snakemake.params.seed,
        rescale=snakemake.params.rescale,
        chunk_size=snakemake.params.chunk_size,
        threads=snakemake.threads,
    )
