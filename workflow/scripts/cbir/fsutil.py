"""Filesystem helpers: atomic writes so no half-written output survives a failure."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

# What follows ".<target name>." in a temporary file's name: "<writer pid>-<random>.part", or
# "<8 random>.part" as named before the writer's id was recorded.
_TEMP_REST = re.compile(r"(?:(\d+)-)?[a-z0-9_]+\.part")


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
    records the writer, so the next write of `path` removes what a killed writer left.
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
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
