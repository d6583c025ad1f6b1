"""Rule enhance_<enhancer>: every query set one enhancer restores, in one job."""

from cbir.runlog import setup_logging
from cbir.stages.enhance import enhance_query_sets

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhance_query_sets(
        queries=list(snakemake.input.queries),
        outputs=list(snakemake.output),
        names=snakemake.params.names,
        name=snakemake.rule.removeprefix("enhance_"),
        inputs={key: value for key, value in snakemake.input.items() if key != "queries"},
        enhancer=dict(snakemake.params.enhancer),
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        expect=snakemake.params.expect,  # a network's checkpoint: this enhancer, recipe and seed
        routing=snakemake.params.routing,  # a routed enhancer's routes and detector; else None
    )
