"""Rule degrade_queries: one degraded query set from the test split (DESIGN section 5)."""

from cbir.degradations import degrade_image_set
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    options = dict(snakemake.params.options)
    degrade_image_set(
        snakemake.input[0],
        snakemake.output[0],
        [dict(spec) for spec in snakemake.params.spec],
        seed=snakemake.params.seed,
        query=snakemake.wildcards.query,
        rescale=options.get("rescale", "minmax"),
        chunk_size=options.get("chunk_size", 512),
        threads=snakemake.threads,
    )
