"""cbir.runlog: job logs, uncaught exceptions and progress lines."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging
from cbir.runlog import progress, setup_logging

setup_logging({log!r})
logging.getLogger("cbir.test").info("started")
for _ in progress(range(3), desc="steps"):
    pass
def inner():
    raise RuntimeError("the input is broken")
inner()
"""


def test_uncaught_exception_goes_to_the_log_with_its_traceback(tmp_path):
    log = tmp_path / "logs" / "job.log"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(log=str(log))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    text = log.read_text()
    assert "INFO cbir.test: started" in text
    assert "steps: 100%" in text  # progress lines go to the log off a terminal
    assert "CRITICAL cbir: job failed: RuntimeError: the input is broken" in text
    assert "Traceback (most recent call last)" in text and "in inner" in text
    assert "RuntimeError: the input is broken" in proc.stderr


def test_warnings_inside_a_job_reach_its_log(tmp_path):
    """numpy's overflow warning (the trial's motion blur T 1e39) must be read where the job is read."""
    log = tmp_path / "job.log"
    script = (
        "import numpy as np\n"
        "from cbir.runlog import setup_logging\n"
        f"setup_logging({str(log)!r})\n"
        "np.float32(3e38) * np.float32(10)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True)
    assert proc.returncode == 0
    text = log.read_text()
    assert "WARNING py.warnings" in text and "RuntimeWarning: overflow encountered" in text
