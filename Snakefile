# Degraded-query image retrieval on smallNORB (see README.md and docs/design.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/degrade.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/retrieve.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


onsuccess:
    write_runtime_table()
