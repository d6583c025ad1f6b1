"""cbir.degrade.reference: the float definitions are what `degrade` computes; PyWavelets stays out of production."""

import subprocess
import sys

import numpy as np
import pytest

from cbir.degrade import DEFINITIONS, NAMES, degrade, degrade_float, finish


@pytest.mark.parametrize("name", ["gaussian", "salt_pepper", "speckle", "motion_blur", "motion_blur_zc"])
@pytest.mark.parametrize("rescale", ["minmax", "clip"])
def test_degrade_is_the_definition_followed_by_the_finish(name, rescale, smooth_images, specs):
    images = smooth_images(10, 32)
    spec = specs[name]
    out = degrade(images, [spec], seed=4, stream="s", rescale=rescale, threads=1)
    g, choice = degrade_float(images.astype(np.float32) / 255, [spec], seed=4, stream="s")
    np.testing.assert_array_equal(out, finish(g, rescale))
    assert np.all(choice == 0)
    if rescale == "minmax":
        assert np.all(out.min(axis=(1, 2)) == 0) and np.all(out.max(axis=(1, 2)) == 255)
    else:
        np.testing.assert_array_equal(out, np.floor(np.clip(g, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_mixed_specs_draw_the_same_choice_as_degrade(smooth_images, specs):
    images = smooth_images(40, 16)
    mixed = [specs["gaussian"], specs["speckle"], specs["motion_blur"], specs["motion_blur_zc"]]
    g, choice = degrade_float(images.astype(np.float32) / 255, mixed, seed=1, stream="m")
    assert set(choice) == {0, 1, 2, 3}
    np.testing.assert_array_equal(
        degrade(images, mixed, seed=1, stream="m", rescale="clip", threads=1), finish(g, "clip")
    )
    clean, none = degrade_float(images / 255, [], seed=1, stream="m")
    assert clean.dtype == np.float32 and np.all(none == -1)
    assert set(DEFINITIONS) == set(NAMES)


def test_the_production_path_does_not_import_pywavelets(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from cbir.degrade import degrade\n"
        "x = np.zeros((2, 8, 8), np.uint8)\n"
        "blur = {'name': 'motion_blur', 'sigma': 0.05, 'T': 1.0, 'zero_centre': True}\n"
        "degrade(x, [{'name': 'lowres', 'level': 1}, blur],"
        " seed=0, stream='s', rescale='minmax', threads=1)\n"
        "assert 'pywt' not in sys.modules, 'pywt imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
