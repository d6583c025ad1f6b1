"""cbir.download and the download_smallnorb rule, against a real HTTP server on 127.0.0.1."""

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import norb_bytes, run_snakemake, tiny_split, write_config

from cbir.download import DownloadError, download_file
from cbir.h5store import read_image_set
from cbir.norb import official_name


class FlakyServer(http.server.ThreadingHTTPServer):
    """Serves files from `root`; `faults` maps a name to the failures its next requests get."""

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.root = root
        self.faults: dict[str, list[str]] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data/"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(name)
        path = self.server.root / name
        if not path.exists():
            self.send_error(404)
            return
        body = path.read_bytes()
        fault = self.server.faults.get(name, [])
        fault = fault.pop(0) if fault else None
        if fault == "500":
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "cut":  # announce the whole file, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    srv = FlakyServer(root)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _serve_split(server, split, n_pairs=5, seed=0):
    arrays = tiny_split(n_pairs=n_pairs, size=32, seed=seed)
    for kind, array in arrays.items():
        (server.root / (official_name(split, kind) + ".gz")).write_bytes(gzip.compress(norb_bytes(array)))
    return arrays


def test_download_verifies_checksum_and_retries(server, tmp_path):
    _serve_split(server, "train")
    name = official_name("train", "cat") + ".gz"
    body = (server.root / name).read_bytes()
    dest = tmp_path / "got" / name
    server.faults[name] = ["500", "cut"]
    sha = hashlib.sha256(body).hexdigest()
    download_file(server.url, name, dest, checksum=f"sha256:{sha}", retries=3, backoff=0)
    assert dest.read_bytes() == body
    assert server.requests.count(name) == 3


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    _serve_split(server, "train")
    name = official_name("train", "cat") + ".gz"
    dest = tmp_path / "got" / name
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download_file(server.url, name, dest, checksum="md5:" + "0" * 32, backoff=0)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_interrupted_transfer_after_all_retries_leaves_nothing(server, tmp_path):
    _serve_split(server, "train")
    name = official_name("train", "dat") + ".gz"
    server.faults[name] = ["cut", "cut"]
    dest = tmp_path / "got" / name
    with pytest.raises(DownloadError, match="after 2 attempts"):
        download_file(server.url, name, dest, retries=2, backoff=0)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_file_fails_without_retrying(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url, "nothing.mat.gz", tmp_path / "x.mat.gz", retries=5, backoff=0)
    assert server.requests == ["nothing.mat.gz"]


def test_workflow_downloads_then_converts(server, workdir):
    train = _serve_split(server, "train", seed=1)
    test = _serve_split(server, "test", seed=2)
    first = official_name("test", "info") + ".gz"
    server.faults[first] = ["cut"]  # one transient failure inside the real rule
    write_config(
        workdir,
        run="dl",
        dataset={
            "source": "smallnorb",
            "image_size": 32,
            "smallnorb": {"url": server.url, "checksums": {}, "retries": 3, "timeout_s": 10},
            "subset": {"cameras": [0, 1], "lightings": [0, 1, 2, 3, 4, 5], "azimuth_step": 1, "elevation_step": 1},
        },
    )
    run_snakemake(workdir, "--cores", "2", "results/dl/data/train.h5", "results/dl/data/test.h5")
    for split, arrays in (("train", train), ("test", test)):
        out = read_image_set(workdir / f"results/dl/data/{split}.h5")
        np.testing.assert_array_equal(out.images, arrays["dat"].reshape(-1, 32, 32))
    assert server.requests.count(first) == 2
    # Files the user placed (plain) are used as they are: nothing is fetched again.
    server.requests.clear()
    for gz in (workdir / "resources/smallnorb").glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    run_snakemake(workdir, "--cores", "2", "results/dl/data/train.h5", "--forceall")
    assert server.requests == []
