"""Rule evaluate_classifier: test accuracy and confusion matrix (the paper's Figure 5)."""

from cbir.runlog import setup_logging
from cbir.stages.train import evaluate_classifier

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_classifier(
        model=snakemake.input.model,
        test=snakemake.input.test,
        table=snakemake.output.table,
        figure=snakemake.output.figure,
        batch_size=snakemake.params.batch_size,
        runtime=snakemake.params.runtime,
        threads=snakemake.threads,
        expect=snakemake.params.expect,  # what the checkpoint must be (cbir.checkpoint.check_expected)
    )
