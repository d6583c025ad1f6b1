"""cbir.download: retried, checksum-verified, atomic downloads from a real HTTP server on 127.0.0.1."""

import gzip
import hashlib
import time

import pytest
from conftest import norb_bytes, tiny_split
from flaky_server import serving

from cbir.download import DownloadError, download_file, parse_checksum

NAME = "smallnorb-5x46789x9x18x6x2x96x96-training-cat.mat.gz"


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path / "served") as srv:
        (srv.root / NAME).write_bytes(gzip.compress(norb_bytes(tiny_split(n_pairs=5)["cat"])))
        yield srv


def test_download_verifies_checksum_and_retries(server, tmp_path):
    body = (server.root / NAME).read_bytes()
    dest = tmp_path / "got" / NAME
    server.faults[NAME] = ["500", "cut"]
    sha = hashlib.sha256(body).hexdigest()
    download_file(server.url, NAME, dest, checksum=f"sha256:{sha}", retries=3, timeout=10, backoff=0)
    assert dest.read_bytes() == body
    assert server.requests.count(NAME) == 3


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    dest = tmp_path / "got" / NAME
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file(server.url, NAME, dest, checksum="md5:" + "0" * 32, retries=3, timeout=10, backoff=0)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_interrupted_transfer_after_all_retries_leaves_nothing(server, tmp_path):
    server.faults[NAME] = ["cut", "cut"]
    dest = tmp_path / "got" / NAME
    with pytest.raises(DownloadError, match="after 2 attempts"):
        download_file(server.url, NAME, dest, checksum=None, retries=2, timeout=10, backoff=0)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_unsized_transfer_cut_short_is_retried_not_kept(server, tmp_path):
    """Without a Content-Length, a hang-up looks like the end of the file: only the end of the
    gzip stream tells a whole file from a truncated one."""
    body = (server.root / NAME).read_bytes()
    dest = tmp_path / "got" / NAME
    server.faults[NAME] = ["cut-unsized"]
    download_file(server.url, NAME, dest, checksum=None, retries=2, timeout=10, backoff=0)
    assert dest.read_bytes() == body and server.requests.count(NAME) == 2
    server.faults[NAME] = ["cut-unsized"] * 2
    dest.unlink()
    with pytest.raises(DownloadError, match=f"{dest}: .*after 2 attempts.*gzip stream ends early"):
        download_file(server.url, NAME, dest, checksum=None, retries=2, timeout=10, backoff=0)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_gzip_stream_with_trailing_garbage_is_rejected(server, tmp_path):
    (server.root / "tail.mat.gz").write_bytes((server.root / NAME).read_bytes() + b"<html>oops</html>")
    dest = tmp_path / "tail.mat.gz"
    with pytest.raises(DownloadError, match="after 1 attempts.*data after the end of the gzip stream"):
        download_file(server.url, "tail.mat.gz", dest, checksum=None, retries=1, timeout=10, backoff=0)
    assert not dest.exists()


def test_trickling_server_is_abandoned(server, tmp_path):
    """Each read returns within the socket timeout, so only a deadline per transfer ends it."""
    (server.root / "slow.mat.gz").write_bytes(gzip.compress(bytes(range(256)) * 8, compresslevel=0))  # ~16 s
    dest = tmp_path / "slow.mat.gz"
    server.faults["slow.mat.gz"] = ["trickle", "trickle"]
    started = time.monotonic()
    with pytest.raises(DownloadError, match="after 2 attempts.*too slow"):
        download_file(server.url, "slow.mat.gz", dest, checksum=None, retries=2, timeout=0.5, backoff=0)
    assert time.monotonic() - started < 4
    assert not dest.exists() and list(tmp_path.glob(".*.part")) == []


def test_missing_file_fails_without_retrying(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(
            server.url, "nothing.mat.gz", tmp_path / "x.mat.gz", checksum=None, retries=5, timeout=10, backoff=0
        )
    assert server.requests == ["nothing.mat.gz"]


def test_html_instead_of_gzip_is_rejected(server, tmp_path):
    (server.root / "page.mat.gz").write_bytes(b"<html>moved</html>")
    with pytest.raises(DownloadError, match="did not return gzip data"):
        download_file(server.url, "page.mat.gz", tmp_path / "page.mat.gz", checksum=None, retries=1, timeout=10)
    assert not (tmp_path / "page.mat.gz").exists()


def test_checksum_syntax():
    assert parse_checksum("sha256:ABC") == ("sha256", "abc")
    with pytest.raises(ValueError, match="expected 'md5:<hex>'"):
        parse_checksum("crc32:1234")
