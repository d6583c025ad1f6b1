"""cbir.degrade.rescale: the finish (per-image min-max or clip, then uint8) and the grey-level scale."""

import numpy as np
import pytest

from cbir.degrade import DegradationError, finish
from cbir.degrade.rescale import grey, grey_from_uint8


def test_finish_keeps_a_constant_image_and_rounds():
    g = np.stack([np.full((4, 4), 0.4), np.linspace(-1, 2, 16).reshape(4, 4)]).astype(np.float32)
    out = finish(g, "minmax")
    assert np.all(out[0] == 102)  # 0.4 * 255 = 102
    assert out[1].min() == 0 and out[1].max() == 255
    clipped = finish(g, "clip")
    assert np.all(clipped[1].ravel()[:6] == 0) and np.all(clipped[1].ravel()[-5:] == 255)
    # Half up: 0.5 / 255 above a level rounds up.
    assert finish(np.array([[[(10 + 0.5) / 255, 0.2]]], np.float32), "clip")[0, 0, 0] == 11
    assert g.dtype == np.float32 and g[0, 0, 0] == np.float32(0.4)  # the input is not changed


def test_finish_rejects_an_unknown_rescale():
    with pytest.raises(DegradationError, match="rescale"):
        finish(np.zeros((1, 2, 2), np.float32), "stretch")


def test_grey_levels_of_floats_and_of_uint8_agree_exactly():
    p = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    np.testing.assert_array_equal(grey(p.astype(np.float32) / 255), grey_from_uint8(p))
    np.testing.assert_array_equal(grey_from_uint8(p), p.reshape(4, -1))
