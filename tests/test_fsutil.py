"""cbir.fsutil: atomic writes, and the temporary files a killed writer leaves behind."""

import errno
import os
import subprocess
import sys

import pytest

from cbir.fsutil import DiskFullError, _umask, atomic_path, is_disk_full


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.bin"
    stale = [
        tmp_path / f".out.bin.{_dead_pid()}-k1ll3d_x.part",  # a writer that was killed (SIGKILL: no cleanup)
        tmp_path / ".out.bin.ab_cd123.part",  # the naming before writer ids were recorded
    ]
    kept = [
        tmp_path / f".out.bin.{os.getppid()}-al1ve.part",  # a writer still running
        tmp_path / f".out.bin.gz.{_dead_pid()}-other.part",  # another target's (out.bin.gz)
        tmp_path / "out.bin.1-x.part",  # not hidden: not ours
    ]
    for path in stale + kept:
        path.write_bytes(b"half-written")
    with atomic_path(target) as tmp:
        assert tmp.name.startswith(f".out.bin.{os.getpid()}-") and tmp.name.endswith(".part")
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert sorted(tmp_path.iterdir()) == sorted([target, *kept])


def test_killed_writer_leaves_its_temporary_file_for_the_next_run(tmp_path):
    """A real SIGKILL in the middle of a write, then a rerun: one correct file, no leftovers."""
    target = tmp_path / "out.bin"
    code = (
        "import os, signal, sys\n"
        "from cbir.fsutil import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env)
    assert proc.returncode == -9
    assert [p.name.endswith(".part") for p in tmp_path.iterdir()] == [True] and not target.exists()
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == b"whole"


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        # as h5py raises it (HDF5's text carries the errno)
        OSError("Can't write data (file write failed: filename = 'x', errno = 28, error message = 'No space left')"),
    ],
    ids=["ENOSPC", "EDQUOT", "hdf5"],
)
def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, error):
    target = tmp_path / "out.h5"
    with pytest.raises(DiskFullError) as raised, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise error
    message = str(raised.value)
    assert message.startswith(f"{target}: the disk is full: writing this file failed") and "MiB free" in message
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert raised.value.__cause__ is error and list(tmp_path.iterdir()) == []
    assert is_disk_full(raised.value) and not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    with pytest.raises(OSError) as other, atomic_path(target):
        raise OSError(errno.EACCES, "Permission denied")
    assert not isinstance(other.value, DiskFullError)
