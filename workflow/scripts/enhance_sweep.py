"""Rule enhance_sweep: every severity of one sweep restored by one enhancer."""

from cbir.runlog import setup_logging
from cbir.stages.sweep import enhance_sweep

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    enhance_sweep(
        queries=list(snakemake.input.queries),
        model=snakemake.input.get("model"),
        tuned=snakemake.input.get("tuned"),
        outputs=list(snakemake.output),
        sweep=snakemake.wildcards.sweep,
        name=snakemake.wildcards.enhancer,
        enhancer=snakemake.params.enhancer,
        runtime=snakemake.params.runtime,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
        expect=snakemake.params.expect,
    )
