"""Rule tune_enhancer: a classical method's `auto` parameters chosen by validation top-1 retrieval."""

from cbir.runlog import setup_logging
from cbir.stages.tune import tune_enhancer

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    tune_enhancer(
        name=snakemake.wildcards.enhancer,
        enhancer=dict(snakemake.params.enhancer),
        queries=snakemake.input.queries,
        model=snakemake.input.model,
        gallery=snakemake.input.gallery,
        output=snakemake.output[0],
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        distance=snakemake.params.distance,
        expect=snakemake.params.expect,  # what the classifier checkpoint must be
    )
