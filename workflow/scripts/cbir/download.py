"""Download of the official smallNORB files: retried, checksum-verified, atomic.

A file is streamed into a temporary name beside the destination and renamed only
after the byte count and the optional checksum agree, so an interrupted transfer
never leaves a file that Snakemake or the converter could mistake for a good one.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from cbir.fsutil import atomic_path
from cbir.runlog import progress

log = logging.getLogger("cbir.download")

CHUNK = 1 << 20
BACKOFF_S = 1.0  # wait after the first failed attempt, doubled after each further one


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or on a permanent error)."""


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split "<algorithm>:<hex digest>" and check the algorithm is md5 or sha256."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum {checksum!r}: expected 'md5:<hex>' or 'sha256:<hex>'")
    return algorithm, digest.lower()


def file_url(base_url: str, name: str) -> str:
    return base_url.rstrip("/") + "/" + name


def _fetch_once(url: str, dest: Path, timeout: float, algorithm: str) -> str:
    """Stream `url` into `dest`; return the hex digest. Raises on short reads."""
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        total = response.headers.get("Content-Length")
        total = int(total) if total is not None else None
        received = 0
        with progress(total=total, unit="B", unit_scale=True, desc=Path(url).name) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise http.client.IncompleteRead(b"", total - received)
    return digest.hexdigest()


def _is_permanent(exc: Exception) -> bool:
    """HTTP 4xx other than 408/429 will not get better by retrying."""
    return isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code not in (408, 429)


def download_file(
    base_url: str,
    name: str,
    dest: str | os.PathLike,
    *,
    checksum: str | None,
    retries: int,
    timeout: float,
    backoff: float = BACKOFF_S,
) -> Path:
    """Download `base_url/name` to `dest` atomically, retrying transient failures.

    `checksum` is "<md5|sha256>:<hex>" or None (not verified); `retries` the attempts in all;
    `timeout` the seconds to wait on a stalled connection; attempt k waits `backoff` * 2^(k-1)
    seconds after failing.
    """
    dest = Path(dest)
    url = file_url(base_url, name)
    algorithm, expected = parse_checksum(checksum) if checksum else ("sha256", None)
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp:
                actual = _fetch_once(url, tmp, timeout, algorithm)
                if expected is not None and actual != expected:
                    raise DownloadError(
                        f"{dest}: {algorithm} checksum mismatch for {url}: expected {expected}, got {actual}"
                    )
                if name.endswith(".gz") and tmp.read_bytes()[:2] != b"\x1f\x8b":
                    raise DownloadError(f"{dest}: {url} did not return gzip data (is the URL right?)")
            log.info("downloaded %s (%s %s)", dest, algorithm, actual)
            return dest
        except DownloadError:
            raise
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
            if _is_permanent(exc):
                raise DownloadError(f"{dest}: {url} answered {exc}") from exc
            log.warning("attempt %d/%d for %s failed: %s", attempt, retries, url, exc)
            if attempt < retries:
                time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(f"{dest}: download of {url} failed after {retries} attempts: {last_error}") from last_error
