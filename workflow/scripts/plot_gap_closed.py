"""Rule plot_gap_closed: bars of the share of the retrieval gap each enhancer closes."""

from cbir.runlog import setup_logging
from cbir.stages.report import plot_gap_closed

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_gap_closed(
        enhancement=snakemake.input[0],
        output=snakemake.output[0],
        distance=snakemake.params.distance,
        k=snakemake.params.k,
    )
