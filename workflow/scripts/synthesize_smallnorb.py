"""Rule synthesize_smallnorb: render the smallNORB-format surrogate into resources/synthnorb/."""

from pathlib import Path

from cbir.runlog import setup_logging
from cbir.synth import synthesize

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    params = dict(snakemake.params.synthetic)  # dataset.synthetic: seed and renderer parameters
    synthesize(
        out_dir=Path(snakemake.output[0]).parent,
        seed=params.pop("seed", 0),
        threads=snakemake.threads,
        **params,
    )
