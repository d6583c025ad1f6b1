"""Filesystem helpers: atomic writes so no half-written output survives a failure, and a
write that runs out of space reported as such, naming the file."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# What follows ".<target name>." in a temporary file's name: "<writer pid>-<random>.part", or
# "<8 random>.part" as named before the writer's id was recorded.
_TEMP_REST = re.compile(r"(?:(\d+)-)?[a-z0-9_]+\.part")


# How a failed write for want of space shows itself: OSError's errno, or the text HDF5 (errno in the
# message) and the C libraries give.
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXTS = ("No space left on device", "Disk quota exceeded", "errno = 28,", "errno = 122,")


class DiskFullError(OSError):
    """Writing a file failed because its file system is full (or the user's quota is spent)."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says a write ran out of space (ENOSPC or EDQUOT, directly or in its text)."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    text = str(exc)
    return isinstance(exc, OSError | RuntimeError) and any(t in text for t in _FULL_TEXTS)


def disk_full_error(path: str | os.PathLike, exc: BaseException, hint: str = "") -> DiskFullError:
    """The error for a write of `path` that failed for want of space (`exc`, what the writer
    raised): names the file, says the disk is full and how much is free there now."""
    path = Path(path)
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    message = (
        f"{path}: the disk is full{hint}: writing this file failed ({type(exc).__name__}: {exc}); {free}. "
        "Nothing was written (a previous version of the file, if any, is unchanged): free space on "
        f"{path.parent} and rerun"
    )
    return DiskFullError(errno.ENOSPC, message, str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files `atomic_path` left beside `path` in processes that no longer
    run (killed by SIGKILL or a power cut, where no cleanup runs); return them.

    Temporary files of a writer that is still running on this machine are kept. Snakemake never
    runs two jobs for one output, so no other host writes the same file at the same time."""
    path = Path(path)
    prefix = f".{path.name}."
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path.parent):
            match = entry.name.startswith(prefix) and _TEMP_REST.fullmatch(entry.name[len(prefix) :])
            if not match or (match[1] is not None and _alive(int(match[1]))):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it into place only on success.

    The temporary file lives in the same directory so the final rename is atomic
    on POSIX. On any exception the temporary file is removed and `path` is left
    untouched (absent if it did not exist before). Its name, ``.<name>.<pid>-<random>.part``,
    records the writer, so the next write of `path` removes what a killed writer left. A write
    that fails for want of space (`is_disk_full`) raises DiskFullError naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full_error(path, exc) from exc
        raise
