"""cbir.folder on real image files written by Pillow: decoding of every format and mode, the
crop and resize, the header checks, the layouts and the manifest, the seeded test split."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, features

from cbir.folder import (
    Entry,
    FolderError,
    assign_test,
    check_entries,
    decode,
    decode_chunk,
    probe,
    probe_chunk,
    scan,
    square_resize,
)

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (12, 12), dtype=np.uint8)
RGB = RNG.integers(0, 256, (12, 12, 3), dtype=np.uint8)


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def luma(rgb: np.ndarray) -> np.ndarray:
    """Pillow's ITU-R 601 conversion, the reference for grey."""
    return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))


def smooth(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth grey content that JPEG keeps nearly intact."""
    noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 6)
    return ((blurred - blurred.min()) / np.ptp(blurred) * 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "bmp", "tiff"])
def test_grey_lossless_formats_keep_the_pixels(tmp_path, fmt):
    path = save(Image.fromarray(GREY), tmp_path / f"a.{fmt}")
    image, _ = decode(path, 12, 1)
    assert image.dtype == np.uint8 and image.shape == (12, 12)
    assert np.array_equal(image, GREY)


@pytest.mark.parametrize("fmt", ["png", "bmp", "tiff"])
def test_rgb_becomes_pillow_luma_or_stays_rgb(tmp_path, fmt):
    path = save(Image.fromarray(RGB), tmp_path / f"a.{fmt}")
    assert np.array_equal(decode(path, 12, 1)[0], luma(RGB))
    colour, _ = decode(path, 12, 3)
    assert colour.shape == (12, 12, 3) and np.array_equal(colour, RGB)


def test_grey_replicated_for_three_channels(tmp_path):
    colour, _ = decode(save(Image.fromarray(GREY), tmp_path / "g.png"), 12, 3)
    assert all(np.array_equal(colour[..., c], GREY) for c in range(3))


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_lossless(tmp_path):
    path = save(Image.fromarray(RGB), tmp_path / "a.webp", lossless=True)
    assert np.array_equal(decode(path, 12, 1)[0], luma(RGB))


def test_jpeg_close_to_a_full_decode_with_area_resizing(tmp_path):
    """DCT scaling (draft) is block averaging: close to the full decode plus INTER_AREA."""
    pixels = smooth(256, 256)
    path = save(Image.fromarray(pixels), tmp_path / "a.jpg", quality=95)
    image, _ = decode(path, 32, 1)
    full = np.asarray(Image.open(path).convert("L"))
    reference = cv2.resize(full, (32, 32), interpolation=cv2.INTER_AREA).astype(int)
    assert image.shape == (32, 32)
    assert np.abs(image.astype(int) - reference).mean() < 1.5
    rgb = save(Image.fromarray(np.stack([pixels, pixels[::-1], pixels.T], 2)), tmp_path / "c.jpg", quality=95)
    assert decode(rgb, 32, 3)[0].shape == (32, 32, 3)


@pytest.mark.parametrize("fmt", ["tiff", "png"])
def test_sixteen_bit_scaled_not_clipped(tmp_path, fmt):
    values = np.array([[0, 128, 129, 257, 32896, 65535]], np.uint16)
    path = save(Image.fromarray(np.repeat(values, 6, axis=0)), tmp_path / f"w.{fmt}")
    assert Image.open(path).mode == "I;16"
    image, _ = decode(path, 6, 1)
    assert image[0].tolist() == [0, 0, 1, 1, 128, 255]  # round(v * 255 / 65535)
    assert decode(path, 6, 3)[0][0, :, 1].tolist() == [0, 0, 1, 1, 128, 255]


def test_big_endian_sixteen_bit_and_32_bit_int(tmp_path):
    values = np.array([[0, 32896, 65535, 70000, -5, 257]], np.int32)
    path = save(Image.fromarray(np.repeat(values, 6, axis=0)), tmp_path / "i.tiff")
    assert Image.open(path).mode == "I"
    assert decode(path, 6, 1)[0][0].tolist() == [0, 128, 255, 255, 0, 1]  # clipped to 0..65535 first
    big = Image.frombytes("I;16B", (6, 6), np.repeat(values.clip(0, 65535), 6, 0).astype(">u2").tobytes())
    path = save(big, tmp_path / "b.tiff")
    assert Image.open(path).mode == "I;16B"
    assert decode(path, 6, 1)[0][0].tolist() == [0, 128, 255, 255, 0, 1]


def test_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red under every pixel: must not show where transparent
    rgba[0, :, 3] = 0  # transparent -> white
    rgba[1, :, 3] = 255  # opaque red -> its luma
    rgba[2, :, 3] = 128  # half: red over white
    rgba[3, :, :3], rgba[3, :, 3] = 0, 255  # opaque black
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    image, _ = decode(path, 4, 1)
    red = luma(np.full((1, 1, 3), (255, 0, 0), np.uint8))[0, 0]  # 76
    half = luma(np.full((1, 1, 3), (255, 127, 127), np.uint8))[0, 0]
    assert image[0].tolist() == [255] * 4 and image[1].tolist() == [red] * 4 and image[3].tolist() == [0] * 4
    assert np.all(np.abs(image[2].astype(int) - half) <= 1)
    colour, _ = decode(path, 4, 3)
    assert colour[0].tolist() == [[255, 255, 255]] * 4 and colour[1].tolist() == [[255, 0, 0]] * 4
    grey_alpha = Image.fromarray(np.stack([np.zeros((4, 4), np.uint8), rgba[..., 3]], 2), "LA")
    assert decode(save(grey_alpha, tmp_path / "la.png"), 4, 1)[0][:, 0].tolist() == [255, 0, 127, 0]


def test_palette_with_and_without_transparency(tmp_path):
    palette = Image.fromarray(RGB).quantize(16)
    path = save(palette, tmp_path / "p.png")
    assert Image.open(path).mode == "P"
    expected = luma(np.asarray(palette.convert("RGB")))
    assert np.array_equal(decode(path, 12, 1)[0], expected)
    assert np.array_equal(decode(path, 12, 3)[0], np.asarray(palette.convert("RGB")))
    clear = save(palette, tmp_path / "t.png", transparency=int(np.asarray(palette)[0, 0]))
    image, _ = decode(clear, 12, 1)
    hidden = np.asarray(palette) == np.asarray(palette)[0, 0]
    assert (image[hidden] == 255).all() and np.array_equal(image[~hidden], expected[~hidden])


def test_one_bit(tmp_path):
    bits = GREY > 127
    path = save(Image.fromarray(bits), tmp_path / "b.png")
    assert Image.open(path).mode == "1"
    assert np.array_equal(decode(path, 12, 1)[0], np.where(bits, 255, 0).astype(np.uint8))


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    path = save(Image.fromarray(pixels), tmp_path / "r.png", exif=exif)
    assert np.array_equal(decode(path, 4, 1)[0], np.rot90(pixels, -1))


def test_jpeg_orientation_applied_after_dct_scaling(tmp_path):
    """A 64 x 32 JPEG, black left half, white right half, tagged 6: shown as 32 x 64 with the
    black half on top; the centred square keeps 16 black rows over 16 white ones."""
    pixels = np.zeros((32, 64), np.uint8)
    pixels[:, 32:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = save(Image.fromarray(pixels), tmp_path / "r.jpg", exif=exif, quality=95)
    image, _ = decode(path, 8, 1)
    assert image[:3].max() < 20 and image[5:].min() > 235


def test_wide_image_centre_cropped_then_area_resized(tmp_path):
    """96 x 32: the centre 32 columns (black | white) survive, the outer bands (50, 200) do not."""
    wide = np.zeros((32, 96), np.uint8)
    wide[:, :32], wide[:, 48:64], wide[:, 64:] = 50, 255, 200
    image, _ = decode(save(Image.fromarray(wide), tmp_path / "w.png"), 16, 1)
    assert (image[:, :8] == 0).all() and (image[:, 8:] == 255).all()


def test_tall_image_with_an_odd_margin_cropped_from_the_rounded_down_offset(tmp_path):
    """32 x 97: offset (97 - 32) // 2 = 32, rows 32..63 (black | white) kept."""
    tall = np.full((97, 32), 200, np.uint8)
    tall[:32], tall[32:48], tall[48:64] = 50, 0, 255
    image, _ = decode(save(Image.fromarray(tall), tmp_path / "t.png"), 8, 1)
    assert (image[:4] == 0).all() and (image[4:] == 255).all()
    assert square_resize(tall, 32).tolist() == tall[32:64].tolist()  # the right size: cropped only


def test_small_images_enlarged(tmp_path):
    image, _ = decode(save(Image.fromarray(GREY[:5, :5]), tmp_path / "s.png"), 20, 1)
    assert image.shape == (20, 20) and image.min() >= GREY[:5, :5].min() and image.max() <= GREY[:5, :5].max()


def test_digest_follows_pixels_not_bytes(tmp_path):
    png, _ = decode(save(Image.fromarray(GREY), tmp_path / "a.png"), 6, 1)
    digests = [decode(save(Image.fromarray(GREY), tmp_path / f"a.{ext}"), 6, 1)[1] for ext in ("png", "bmp", "tif")]
    assert len(set(digests)) == 1  # three encodings, one image
    other = GREY.copy()
    other[0, 0] ^= 1
    assert decode(save(Image.fromarray(other), tmp_path / "b.png"), 6, 1)[1] != digests[0]


def test_decode_chunk_reports_failures_in_order(tmp_path):
    good = save(Image.fromarray(GREY), tmp_path / "g.png")
    (tmp_path / "t.txt").write_text("not an image")
    results = decode_chunk(([str(good), str(tmp_path / "t.txt"), str(good)], 6, 1, 10**6))
    assert [r[2] is None for r in results] == [True, False, True]
    assert "cannot decode" in results[1][2] and results[1][0] is None


# --------------------------------------------------------------------------------------
# header checks
# --------------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR declares width x height and whose pixel data is a few bytes: a bomb's
    header, refused before any decoding would allocate width x height bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = png_chunk(b"IDAT", zlib.compress(bytes(64)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + data + png_chunk(b"IEND", b""))
    return path


def test_probe_reads_headers_only(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(smooth(64, 64)).save(buffer, "JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert probe(truncated) is None  # the header is fine; decoding finds the damage
    with pytest.raises(OSError, match="truncated"):
        decode(truncated, 16, 1)


def test_decompression_bomb_refused_from_the_header(tmp_path):
    bomb = png_header_claiming(tmp_path / "bomb.png", 20_000, 20_000)  # 400 Mpx, beyond Pillow's own error
    assert "20000 x 20000 = 400000000 pixels, over max_pixels 89478485" in probe(bomb)
    small = save(Image.fromarray(GREY), tmp_path / "a.png")
    assert "144 pixels, over max_pixels 100" in probe(small, max_pixels=100)
    assert probe(small, max_pixels=144) is None
    assert probe(png_header_claiming(tmp_path / "big.png", 20_000, 20_000), max_pixels=4 * 10**8) is None
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's own limit restored
    with pytest.raises(ValueError, match="over max_pixels 100"):
        decode(small, 6, 1, max_pixels=100)


def test_probe_names_non_images_and_unsupported_modes(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    floats = save(Image.fromarray(np.zeros((4, 4), np.float32)), tmp_path / "f.tiff")
    results = probe_chunk(([str(tmp_path / "notes.txt"), str(tmp_path / "empty.png"), str(floats)], 10**6))
    assert all("not a readable image (UnidentifiedImageError" in r for r in results[:2])
    assert "image mode F is not supported" in results[2]


# --------------------------------------------------------------------------------------
# layouts and the manifest
# --------------------------------------------------------------------------------------


def tree(root: Path, files: dict[str, np.ndarray | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            Image.fromarray(content).save(path)
    return root


def test_class_layout_sorted_names_kept_as_written(tmp_path):
    root = tree(
        tmp_path / "d",
        {
            "b c/1.png": GREY,
            "Zebra/x.png": GREY,
            "apple/sub/2.png": GREY,  # subfolders of a class folder belong to it
            "apple/1.png": GREY,
            "apple/.DS_Store": "hidden",
            ".cache/junk.png": GREY,
            "README.txt": "above the classes",
        },
    )
    found = scan(root)
    assert found.layout == "classes" and not found.problems
    assert found.classes == ["Zebra", "apple", "b c"]
    assert [(e.label, Path(e.path).relative_to(root).as_posix(), e.split) for e in found.entries] == [
        ("Zebra", "Zebra/x.png", None),
        ("apple", "apple/1.png", None),
        ("apple", "apple/sub/2.png", None),
        ("b c", "b c/1.png", None),
    ]
    assert found.ignored == [root / "README.txt"]


def test_split_layout(tmp_path):
    root = tree(
        tmp_path / "d",
        {
            "train/cat/1.png": GREY,
            "train/dog/1.png": GREY,
            "validation/dog/2.png": GREY,
            "test/cat/3.png": GREY,
            "test/dog/3.png": GREY,
        },
    )
    found = scan(root)
    assert found.layout == "splits" and not found.problems and found.classes == ["cat", "dog"]
    assert [(e.split, e.label) for e in found.entries] == [
        ("train", "cat"),
        ("train", "dog"),
        ("validation", "dog"),
        ("test", "cat"),
        ("test", "dog"),
    ]


def test_layout_problems_all_listed(tmp_path):
    root = tree(tmp_path / "d", {"train/cat/1.png": GREY, "extra/cat/1.png": GREY})
    (root / "train" / "dog").mkdir()
    problems = scan(root).problems
    assert f"{root / 'extra'}: not a split folder (train, validation, test) beside the split folders" in problems
    assert f"{root / 'test'}: missing split folder" in problems
    assert f"{root / 'train' / 'dog'}: empty class folder (no image files)" in problems
    (tmp_path / "empty").mkdir()
    assert "holds no images" in scan(tmp_path / "empty").problems[0]
    with pytest.raises(FolderError, match="no such folder"):
        scan(tmp_path / "absent")


def write_manifest(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_manifest_with_splits_and_groups(tmp_path):
    root = tree(tmp_path / "d", {f"img/{k}.png": GREY for k in range(4)})
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            "path,label,split,group",
            "img/0.png,cat,train,a",
            f"{root / 'img/1.png'},cat,test,b",  # absolute but inside
            "img/2.png, dog ,train,",  # no group: its own; spaces trimmed
            "./img/../img/3.png,dog,test,c",
        ],
    )
    found = scan(root, manifest)
    assert found.layout == "manifest" and not found.problems and not found.bad
    assert [(e.label, e.split, e.group) for e in found.entries] == [
        ("cat", "train", "a"),
        ("dog", "train", None),
        ("cat", "test", "b"),
        ("dog", "test", "c"),
    ]


def test_manifest_columns_checked(tmp_path):
    root = tree(tmp_path / "d", {"a.png": GREY})
    for header, words in [
        ("path,split", "missing ['label']"),
        ("path,label,colour", "unexpected ['colour']"),
        ("file,label", "missing ['path']; unexpected ['file']"),
        ("path,label,label", "repeated names"),
    ]:
        manifest = write_manifest(tmp_path / "m.csv", [header, "a.png,cat,x"])
        with pytest.raises(FolderError, match="expected path,label\\[,split\\]\\[,group\\]") as error:
            scan(root, manifest)
        assert words in str(error.value) and str(manifest) in str(error.value)


def test_manifest_row_problems_named_by_line(tmp_path):
    root = tree(tmp_path / "d", {"a.png": GREY, "b.png": GREY})
    outside = tree(tmp_path / "elsewhere", {"o.png": GREY})
    os.symlink(outside / "o.png", root / "link.png")
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            "path,label,split",
            "a.png,cat,tset",
            "../elsewhere/o.png,cat,train",
            "link.png,dog,train",
            "gone.png,dog,test",
            "b.png,,train",
            "b.png,dog,train,extra",
            "b.png,dog,train",
            "./b.png,dog,test",
        ],
    )
    found = scan(root, manifest)
    assert found.problems == [
        f"{manifest} line 2: split 'tset' is not one of train, validation, test",
        f"{manifest} line 3: '../elsewhere/o.png' resolves to {outside.resolve() / 'o.png'}, outside the folder "
        f"{root.resolve()}",
        f"{manifest} line 4: 'link.png' resolves to {outside.resolve() / 'o.png'}, outside the folder {root.resolve()}",
        f"{manifest} line 6: empty label",
        f"{manifest} line 7: 4 fields, the header has 3",
        f"{manifest} line 9: './b.png' is the file of line 8 again",
    ]
    assert [(e.path, reason) for e, reason in found.bad] == [
        (str(root / "gone.png"), "no such file (manifest line 5, class 'dog')")
    ]
    assert found.classes == ["dog"]
    assert "lists no images" in scan(root, write_manifest(tmp_path / "e.csv", ["path,label"])).problems[0]


# --------------------------------------------------------------------------------------
# dataset checks and the seeded test split
# --------------------------------------------------------------------------------------


def entries_of(counts: dict[str, int], groups_of: int | None = None):
    """Entries of classes with the given image counts; with groups_of, groups of that many images."""
    out = []
    for label, n in counts.items():
        for k in range(n):
            group = f"{label}-{k // groups_of}" if groups_of else None
            out.append(Entry(f"/d/{label}/{k:03d}.png", label, None, group))
    return out


def test_check_entries_names_each_problem():
    assert check_entries(entries_of({"cat": 3}), ["cat"], "d") == ["d: 1 class ['cat'], need at least 2"]
    entries = [
        Entry("/d/1.png", "cat", "train", "g"),
        Entry("/d/2.png", "cat", "test", "g"),
        Entry("/d/3.png", "dog", "test", "h"),
        Entry("/d/4.png", "emu", "test", "h"),
    ]
    assert check_entries(entries, ["cat", "dog", "emu"], "d") == [
        "d: group 'g' is in splits ['train', 'test'] (a group must stay in one split)",
        "d: group 'h' holds images of classes ['dog', 'emu'] (a group is one object)",
        "d: class 'dog' has no training images",
        "d: class 'emu' has no training images",
    ]


@pytest.mark.parametrize("counts", [{"a": 10, "b": 20, "c": 5}, {f"k{i}": 3 + 4 * i for i in range(7)}])
def test_test_share_per_class_seeded(counts):
    split, problems = assign_test(entries_of(counts), test_share=0.25, seed=7)
    assert not problems
    for label, n in counts.items():
        assert sum(e.split == "test" for e in split if e.label == label) == round(0.25 * n)
    again, _ = assign_test(entries_of(counts), test_share=0.25, seed=7)
    assert again == split
    draws = {frozenset(e for e in assign_test(entries_of(counts), test_share=0.25, seed=s)[0]) for s in range(6)}
    assert len(draws) > 1


def test_groups_never_straddle_and_the_share_counts_groups():
    entries = entries_of({"a": 40, "b": 24}, groups_of=4)  # 10 and 6 groups
    split, problems = assign_test(entries, test_share=0.3, seed=1)
    assert not problems
    for label, groups in (("a", 10), ("b", 6)):
        test_groups = {e.group for e in split if e.label == label and e.split == "test"}
        assert len(test_groups) == round(0.3 * groups)
    by_group: dict[str, set] = {}
    for e in split:
        by_group.setdefault(e.group, set()).add(e.split)
    assert all(len(splits) == 1 for splits in by_group.values())
    assert not check_entries(split, ["a", "b"], "d")


def test_test_share_leaving_a_side_empty_names_the_class():
    _, problems = assign_test(entries_of({"a": 10, "b": 2}), test_share=0.2, seed=0)
    assert problems == [
        "class 'b': test_share 0.2 of its 2 images puts 0 in test (at least one must go to test and one stay in train)"
    ]
    _, problems = assign_test(entries_of({"a": 8, "b": 8}, groups_of=4), test_share=0.8, seed=0)
    assert problems[0].startswith("class 'a': test_share 0.8 of its 2 groups puts 2 in test")
