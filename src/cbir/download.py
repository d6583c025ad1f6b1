"""Download of the official smallNORB files: retried, checksum-verified, atomic.

A file is streamed into a temporary name beside the destination and renamed only
after the byte count, the gzip stream (for .gz names: it must reach its end-of-stream
marker, with nothing after it) and the optional checksum agree, so an interrupted
transfer never leaves a file that Snakemake or the converter could mistake for a good
one. Without a Content-Length a hang-up looks like the end of the body: only the end of
the gzip stream tells a truncated file apart.

Time limits: the socket timeout (`timeout`) bounds each read, and every stretch of
`timeout` seconds must bring at least MIN_RATE bytes per second, so a server that trickles
bytes is abandoned (and retried) too: a transfer lasts at most about size / MIN_RATE plus
`timeout` (3.8 h for the 448 MB training images, against minutes on an ordinary link).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from cbir.fsutil import atomic_path
from cbir.runlog import progress

log = logging.getLogger("cbir.download")

CHUNK = 1 << 20
BACKOFF_S = 1.0  # wait after the first failed attempt, doubled after each further one
MIN_RATE = 32 * 1024  # bytes per second, averaged over each stretch of `timeout` seconds
GZIP_MAGIC = b"\x1f\x8b"


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or on a permanent error)."""


class TransferError(OSError):
    """One attempt failed in a way a retry may fix: too slow, or a gzip stream cut short."""


class _NotGzip(Exception):
    """The body does not start with the gzip signature (an HTML page, a wrong URL): permanent."""


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split "<algorithm>:<hex digest>" and check the algorithm is md5 or sha256."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("md5", "sha256") or not digest:
        raise ValueError(f"checksum {checksum!r}: expected 'md5:<hex>' or 'sha256:<hex>'")
    return algorithm, digest.lower()


def file_url(base_url: str, name: str) -> str:
    return base_url.rstrip("/") + "/" + name


class _GzipCheck:
    """Follows a gzip file chunk by chunk (decompressing into a bounded buffer, discarded), so
    `finish` can tell a complete stream from a truncated one. Members may follow each other, as
    gzip allows; anything else after the end-of-stream marker is an error."""

    def __init__(self):
        self._inflate = zlib.decompressobj(wbits=31)
        self._head = b""

    def feed(self, data: bytes) -> None:
        if len(self._head) < 2:
            self._head += data[: 2 - len(self._head)]
            if self._head != GZIP_MAGIC[: len(self._head)]:
                raise _NotGzip
        while data:
            if self._inflate.eof:
                if data[:1] != GZIP_MAGIC[:1]:
                    raise TransferError(f"data after the end of the gzip stream ({data[:16]!r}...)")
                self._inflate = zlib.decompressobj(wbits=31)
            try:
                self._inflate.decompress(data, CHUNK)
            except zlib.error as exc:
                raise TransferError(f"corrupt gzip data: {exc}") from exc
            data = self._inflate.unused_data if self._inflate.eof else self._inflate.unconsumed_tail

    def finish(self) -> None:
        if len(self._head) < 2:
            raise _NotGzip
        if not self._inflate.eof:
            raise TransferError("the gzip stream ends early, before its end-of-stream marker (truncated transfer)")


def _fetch_once(url: str, dest: Path, timeout: float, algorithm: str, gz: bool) -> str:
    """Stream `url` into `dest`; return the hex digest. Raises on short, slow or truncated transfers."""
    digest = hashlib.new(algorithm)
    check = _GzipCheck() if gz else None
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
        total = response.headers.get("Content-Length")
        total = int(total) if total is not None else None
        received = 0
        window_start, window_bytes = time.monotonic(), 0
        with progress(total=total, unit="B", unit_scale=True, desc=Path(url).name) as bar:
            # read1: one socket read at a time, so a trickle cannot hold read() until CHUNK bytes arrive
            while chunk := response.read1(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                if check is not None:
                    check.feed(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                elapsed = time.monotonic() - window_start
                if elapsed >= timeout:
                    if received - window_bytes < MIN_RATE * elapsed:
                        raise TransferError(
                            f"too slow: {received - window_bytes} bytes in the last {elapsed:.1f} s "
                            f"(at least {MIN_RATE} bytes/s needed)"
                        )
                    window_start, window_bytes = time.monotonic(), received
        if total is not None and received != total:
            raise http.client.IncompleteRead(b"", total - received)
        if check is not None:
            check.finish()
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
    `timeout` the seconds to wait on a stalled connection, and the stretch over which the rate
    must reach MIN_RATE; attempt k waits `backoff` * 2^(k-1) seconds after failing. A name
    ending in .gz must hold one whole gzip stream.
    """
    dest = Path(dest)
    url = file_url(base_url, name)
    algorithm, expected = parse_checksum(checksum) if checksum else ("sha256", None)
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(dest) as tmp:
                try:
                    actual = _fetch_once(url, tmp, timeout, algorithm, gz=name.endswith(".gz"))
                except _NotGzip:
                    raise DownloadError(f"{dest}: {url} did not return gzip data (is the URL right?)") from None
                if expected is not None and actual != expected:
                    raise DownloadError(
                        f"{dest}: {algorithm} checksum mismatch for {url}: expected {expected}, got {actual}"
                    )
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
