"""cbir: content-based image retrieval with degraded queries on smallNORB.

The library behind the Snakemake workflow. Every rule's script unpacks the
`snakemake` object and calls one function from here; tests import it directly.
"""
