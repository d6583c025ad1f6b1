"""Logging and progress bars for rule scripts.

A script calls `setup_logging(snakemake.log[0])` first: log records and Python warnings go
to the job's log file and to stderr, and so does the traceback of an exception that ends the
script, so `snakemake --show-failed-logs` shows why a job failed. `progress()` shows a tqdm bar on a terminal and
otherwise writes throttled progress lines into the log instead of carriage-return
noise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

log = logging.getLogger("cbir")


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send `cbir` log records to `log_file` (created with its folder) and stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    # numpy's overflow and torch's user warnings would otherwise reach only Snakemake's
    # stderr, never the job log that explains the job's outputs
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(exc_type, exc, tb) -> None:
    """Write an uncaught exception with its traceback into the job log (and stderr)."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("job failed: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))


class _LogStream:
    """A file-like object that turns tqdm's output into log records."""

    def write(self, text: str) -> None:
        text = text.strip("\r\n ")
        if text:
            log.info(text)

    def flush(self) -> None:
        pass


def progress(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """A tqdm bar on a terminal; on a file or pipe, a log line every 10 s at most."""
    if sys.stderr.isatty():
        return tqdm(iterable, **kwargs)
    kwargs.setdefault("mininterval", 10.0)
    kwargs.setdefault("ascii", True)
    return tqdm(iterable, file=_LogStream(), **kwargs)
