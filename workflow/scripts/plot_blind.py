"""Rule plot_blind: the blind table's figure."""

from cbir.runlog import setup_logging
from cbir.stages.blind import plot_blind

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_blind(blind=snakemake.input[0], output=snakemake.output[0], k=min(snakemake.params.ks))
