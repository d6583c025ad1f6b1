"""Rule plot_enhancement: the same queries clean, degraded and through every enhancer of the set."""

from cbir.runlog import setup_logging
from cbir.stages.enhance import plot_enhancement

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    plot_enhancement(
        clean=snakemake.input.clean,
        degraded=snakemake.input.degraded,
        restored=dict(zip(snakemake.params.enhancers, snakemake.input.restored, strict=True)),
        output=snakemake.output[0],
        query=snakemake.wildcards.query,
        seed=snakemake.params.seed,
    )
