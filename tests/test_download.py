"""cbir.download: retried, checksum-verified, atomic downloads from a real HTTP server on 127.0.0.1."""

import gzip
import hashlib

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
