"""Rule evaluate_classifier: test accuracy and confusion matrix (the paper's Figure 5)."""

from cbir.embedding import evaluate_classifier
from cbir.runlog import setup_logging

if __name__ == "__main__":
    setup_logging(snakemake.log[0])
    evaluate_classifier(
        model=snakemake.input.model,
        test=snakemake.input.test,
        table=snakemake.output.table,
        figure=snakemake.output.figure,
        batch_size=snakemake.params.batch_size,
        threads=snakemake.threads,
    )
