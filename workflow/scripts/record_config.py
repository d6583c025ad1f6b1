"""Rule record_config: the run's validated config and its digest beside its results."""

from cbir.runlog import setup_logging
from cbir.stages.report import record_config

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    record_config(config=snakemake.params.config, output=snakemake.output.config, digest=snakemake.output.digest)
