"""Rule plot_calibration: the drop curves with the paper's drops."""

from cbir.runlog import setup_logging
from cbir.stages.calibrate import plot_calibration

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_calibration(table=snakemake.input[0], output=snakemake.output[0])
