"""cbir.mixture and the mix_queries stage: queries whose degradation nobody announces."""

from __future__ import annotations

import numpy as np
import pytest

from cbir.degrade import KINDS, degrade
from cbir.h5store import ImageSet, read_image_set, write_image_set
from cbir.mixture import MixtureError, degrade_mixture, mixture_entries, true_kinds
from cbir.stages.degrade import mix_query_set

QUERIES = {
    "clean": [],
    "noisy": [
        {"name": "gaussian", "sigma": 0.3},
        {"name": "salt_pepper", "amount": 0.1},
        {"name": "speckle", "amount": 0.3},
    ],
    "blurry": [{"name": "motion_blur", "sigma": 0.2, "T": 1.0, "zero_centre": True}],
    "lowres": [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}],
}


def _images(n: int = 600, size: int = 16, seed: int = 0) -> np.ndarray:
    """Smooth random images (a gradient plus a bright square), no flat image among them."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 200, size)[None, :] * np.ones((size, 1))
    out = np.repeat(ramp[None], n, axis=0)
    for i in range(n):
        r, c = rng.integers(0, size - 6, 2)
        out[i, r : r + 6, c : c + 6] = rng.uniform(120, 255)
    return out.astype(np.uint8)


def test_entries_one_per_degradation_name_and_one_for_clean():
    entries = mixture_entries(QUERIES, ["clean", "noisy", "blurry", "lowres"])
    assert [e["kind"] for e in entries] == ["none", "noise", "noise", "noise", "blur", "lowres"]
    assert [len(e["specs"]) for e in entries] == [0, 1, 1, 1, 1, 2]  # both lowres levels are one entry
    assert entries[5]["specs"] == QUERIES["lowres"]
    with pytest.raises(MixtureError, match="'foggy' is not a configured query set"):
        mixture_entries(QUERIES, ["clean", "foggy"], where="mixtures.mixed")


def test_each_image_is_clean_or_exactly_its_entrys_degradation():
    images = _images()
    entries = mixture_entries(QUERIES, ["clean", "noisy", "blurry", "lowres"])
    out, kinds, entry = degrade_mixture(images, entries, seed=3, stream="mixed", rescale="minmax", threads=2)
    # uniform over six entries: every entry about a sixth of 600 (binomial sd about 9)
    counts = np.bincount(entry, minlength=6)
    assert counts.min() > 60 and counts.max() < 140, counts
    assert np.array_equal(kinds, np.array([KINDS.index(e["kind"]) for e in entries])[entry])
    clean = entry == 0
    assert np.array_equal(out[clean], images[clean])  # clean entries are the clean images, byte for byte
    for e in range(1, 6):
        rows = np.flatnonzero(entry == e)
        expected = degrade(
            images[rows],
            entries[e]["specs"],
            seed=3,
            stream=f"mixed/entry{e}",
            indices=rows,
            rescale="minmax",
            threads=1,
        )
        assert np.array_equal(out[rows], expected)
        assert not np.array_equal(out[rows], images[rows])
    # low resolution: every image is constant on 2x2 blocks (level 1) or 4x4 (level 2)
    low = out[entry == 5].astype(int)
    assert (low[:, ::2, ::2] == low[:, 1::2, 1::2]).all()
    # the same seed and stream give the same set; another stream another one
    again, _, _ = degrade_mixture(images, entries, seed=3, stream="mixed", rescale="minmax", threads=1)
    assert np.array_equal(again, out)
    _, _, other = degrade_mixture(images, entries, seed=3, stream="validation/mixed", rescale="minmax", threads=1)
    assert not np.array_equal(other, entry)


def _columns(n):
    return {c: np.arange(n) % 5 for c in ("label", "instance", "elevation", "azimuth", "lighting", "camera")}


def test_true_kinds_from_the_column_or_the_sets_one_kind():
    n = 4
    images = _images(n)
    stored = ImageSet(images, {**_columns(n), "kind": np.array([0, 3, 2, 1])}, {})
    assert true_kinds(stored).tolist() == [0, 3, 2, 1]
    blurry = ImageSet(images, _columns(n), {"specs": QUERIES["blurry"]})
    assert true_kinds(blurry).tolist() == [KINDS.index("blur")] * n
    assert true_kinds(ImageSet(images, _columns(n), {"specs": []})).tolist() == [0] * n


def test_mix_query_set_stores_the_true_kind_per_query(tmp_path):
    n = 120
    write_image_set(tmp_path / "test.h5", _images(n), _columns(n), {"source": "test"})
    out = tmp_path / "mixed.h5"
    mix_query_set(
        test=tmp_path / "test.h5", output=out, queries=QUERIES, members=["clean", "noisy", "blurry", "lowres"],
        query="mixed", seed=0, rescale="minmax", threads=1,
    )  # fmt: skip
    stored = read_image_set(out)
    entries = mixture_entries(QUERIES, ["clean", "noisy", "blurry", "lowres"])
    images, kinds, _ = degrade_mixture(_images(n), entries, seed=0, stream="mixed", rescale="minmax", threads=1)
    assert np.array_equal(stored.images, images)
    assert np.array_equal(stored.columns["kind"], kinds)
    assert stored.attrs["entries"] == entries and stored.attrs["mixture_of"] == ["clean", "noisy", "blurry", "lowres"]
    assert sum(stored.attrs["kind_counts"].values()) == n
