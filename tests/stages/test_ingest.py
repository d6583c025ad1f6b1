"""Stage ingest_folder on real image files written by Pillow: both layouts and the manifest into
the pipeline's image sets, bad input listed at once (error) or left out and reported (skip),
duplicates across splits, determinism."""

from __future__ import annotations

import io
import json
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from cbir.folder import FolderError, decode
from cbir.h5store import COLUMNS, read_image_set
from cbir.stages.ingest import ingest_folder

SIZE = 16


def seed_of(*parts) -> int:
    """A seed of its own for each file (stable across runs, unlike hash())."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def random_image(seed: int, mode: str = "L", size: tuple[int, int] = (24, 20)) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def write(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def mixed_formats(folder: Path, seed: int) -> Path:
    """One image per supported kind of file: grey and RGB PNG, JPEG, BMP, 16-bit TIFF, RGBA,
    palette, WebP (when Pillow has it)."""
    write(folder / "a_grey.png", random_image(seed))
    write(folder / "b_rgb.png", random_image(seed + 1, "RGB"))
    write(folder / "c.jpg", random_image(seed + 2, "RGB", (40, 30)), quality=90)
    write(folder / "d.bmp", random_image(seed + 3, "RGB"))
    wide = np.random.default_rng(seed + 4).integers(0, 65536, (20, 24), dtype=np.uint16)
    write(folder / "e16.tiff", Image.fromarray(wide))
    write(folder / "f_rgba.png", random_image(seed + 5, "RGBA"))
    write(folder / "g_palette.png", random_image(seed + 6, "RGB").quantize(32))
    if features.check("webp"):
        write(folder / "h.webp", random_image(seed + 7, "RGB"), lossless=True)
    return folder


def ingest(
    tmp_path: Path,
    folder: dict,
    *,
    threads: int = 1,
    seed: int = 0,
    out: str = "out",
    size: int = SIZE,
    channels: int = 1,
):
    paths = {name: tmp_path / out / f"{name}.{ext}" for name, ext in (("train_all", "h5"), ("test", "h5"))}
    paths["report"] = tmp_path / out / "report.json"
    ingest_folder(folder=folder, image_size=size, channels=channels, seed=seed, threads=threads, **paths)
    return read_image_set(paths["train_all"]), read_image_set(paths["test"]), json.loads(paths["report"].read_text())


def expected_rows(files: dict[Path, str], classes: list[str]) -> Counter:
    """(decoded bytes, label) of every file: what the two sets must hold between them."""
    return Counter((decode(path, SIZE, 1)[0].tobytes(), classes.index(label)) for path, label in files.items())


def rows(*sets) -> Counter:
    return Counter((image.tobytes(), int(label)) for s in sets for image, label in zip(s.images, s.labels, strict=True))


def test_class_layout_three_unbalanced_classes_of_every_format(tmp_path):
    root = tmp_path / "images"
    counts = {"dog": 12, "Cat": 8, "emu": 9}
    files = {}
    for k, (label, n) in enumerate(counts.items()):
        mixed_formats(root / label, 100 * k)
        files.update({p: label for p in sorted((root / label).iterdir())})
        for extra in range(n - len(list((root / label).iterdir()))):
            files[write(root / label / f"z{extra}.png", random_image(1000 * k + extra))] = label
    assert Counter(files.values()) == counts
    train, test, report = ingest(tmp_path, {"path": str(root)})
    classes = ["Cat", "dog", "emu"]  # sorted as written
    assert rows(train, test) == expected_rows(files, classes)
    for part, name in ((train, "train_all"), (test, "test")):
        assert part.images.shape[1:] == (SIZE, SIZE)
        assert {k: part.attrs[k] for k in ("source", "classes", "folder", "channels", "image_size", "split")} == {
            "source": "folder",
            "classes": classes,
            "folder": str(root),
            "channels": 1,
            "image_size": SIZE,
            "split": name,
        }
        assert all((part.columns[c] == 0).all() for c in COLUMNS if c not in ("label", "instance"))
        assert "given_validation" not in part.attrs
    for label, n in counts.items():
        assert (test.labels == classes.index(label)).sum() == round(0.2 * n)
    instances = np.concatenate([train.columns["instance"], test.columns["instance"]])
    assert sorted(instances.tolist()) == list(range(sum(counts.values())))  # each image its own object
    assert report["counts"] == {
        "train": {c: counts[c] - round(0.2 * counts[c]) for c in classes},
        "test": {c: round(0.2 * counts[c]) for c in classes},
    }
    assert report["settings"]["split"] == "seeded test_share per class" and report["skipped"] == []
    assert report["classes"] == classes


def seven_classes(root: Path) -> Path:
    for c in range(7):
        for k in range(3 + 2 * c):
            write(root / f"class{c}" / f"{k}.png", random_image(100 * c + k, size=(18 + c, 16 + k)))
    return root


def test_seven_classes_deterministic_with_any_number_of_workers(tmp_path):
    root = seven_classes(tmp_path / "seven")
    one = ingest(tmp_path, {"path": str(root), "test_share": 0.3}, threads=1, out="one")
    two = ingest(tmp_path, {"path": str(root), "test_share": 0.3}, threads=2, out="two")
    for a, b in zip(one[:2], two[:2], strict=True):
        assert np.array_equal(a.images, b.images) and a.attrs == b.attrs
        assert all(np.array_equal(a.columns[c], b.columns[c]) for c in COLUMNS)
    assert one[2] == two[2]
    assert len(one[0].attrs["classes"]) == 7
    other = ingest(tmp_path, {"path": str(root), "test_share": 0.3}, seed=5, out="other")
    assert not np.array_equal(other[1].columns["instance"], one[1].columns["instance"])  # the seed draws the split


def test_split_layout_with_a_given_validation_split(tmp_path):
    root = tmp_path / "images"
    files = {}
    for split, per_class in (("train", 3), ("validation", 2), ("test", 2)):
        for label in ("b", "a"):
            for k in range(per_class):
                path = write(root / split / label / f"{k}.png", random_image(seed_of(split, label, k)))
                files[path] = (split, label)
    train_all, test, report = ingest(tmp_path, {"path": str(root)})
    assert train_all.attrs["classes"] == ["a", "b"] and len(train_all) == 10 and len(test) == 4
    given = train_all.attrs["given_validation"]
    assert given == list(range(6, 10))  # validation rows follow the training rows

    def part(split):
        return {p: label for p, (s, label) in files.items() if s == split}

    assert rows(train_all.subset(np.arange(6))) == expected_rows(part("train"), ["a", "b"])
    assert rows(train_all.subset(np.array(given))) == expected_rows(part("validation"), ["a", "b"])
    assert rows(test) == expected_rows(part("test"), ["a", "b"])
    assert report["counts"]["validation"] == {"a": 2, "b": 2} and report["settings"]["split"] == "given (splits)"


def grouped_manifest(tmp_path: Path, groups: dict[str, int], per_group: int = 3) -> tuple[Path, Path]:
    root = tmp_path / "flat"
    lines = ["path,label,group"]
    for label, n in groups.items():
        for g in range(n):
            for k in range(per_group):
                name = f"{label}_{g}_{k}.png"
                write(root / name, random_image(seed_of(label, g, k)))
                lines.append(f"{name},{label},{label}-obj{g}")
    lines.append(f"{label}_lonely.png,{label},")  # an image without a group: its own
    write(root / f"{label}_lonely.png", random_image(7))
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return root, manifest


def test_manifest_groups_never_straddle_and_map_to_instances(tmp_path):
    root, manifest = grouped_manifest(tmp_path, {"x": 10, "y": 5})
    train, test, report = ingest(tmp_path, {"path": str(root), "manifest": str(manifest), "test_share": 0.2})
    train_ids, test_ids = set(train.columns["instance"].tolist()), set(test.columns["instance"].tolist())
    assert not train_ids & test_ids
    assert train_ids | test_ids == set(range(16))  # 15 groups (0..14, sorted by name), then the lonely image
    for label, groups in ((0, 10), (1, 5)):
        assert len(set(test.columns["instance"][test.labels == label].tolist())) == round(0.2 * groups)
    everything = np.concatenate([train.columns["instance"], test.columns["instance"]])
    assert Counter(everything.tolist()) == {**{g: 3 for g in range(15)}, 15: 1}
    assert report["settings"]["manifest"] == str(manifest)


def test_every_bad_input_listed_at_once_and_nothing_written(tmp_path):
    root = tmp_path / "images"
    for label in ("cat", "dog"):
        for k in range(5):
            write(root / label / f"{k}.png", random_image(seed_of(label, k)))
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "empty.png").write_bytes(b"")
    write(root / "dog" / "big.png", random_image(3, size=(300, 300)))
    buffer = io.BytesIO()
    random_image(4, "RGB", (64, 64)).save(buffer, "JPEG")
    (root / "cat" / "cut.jpg").write_bytes(
        buffer.getvalue()[: len(buffer.getvalue()) // 2]
    )  # header fine, data truncated
    out = tmp_path / "out"
    with pytest.raises(FolderError) as error:
        ingest(tmp_path, {"path": str(root), "max_pixels": 200 * 200})
    lines = str(error.value).splitlines()
    assert lines[0] == f"image folder {root}: 4 problems:"
    assert lines[1].startswith(f"{root / 'cat' / 'notes.txt'}: not a readable image (UnidentifiedImageError")
    assert (
        lines[2]
        == f"{root / 'dog' / 'big.png'}: 300 x 300 = 90000 pixels, over max_pixels 40000 (a decompression bomb?); not decoded"
    )
    assert lines[3].startswith(f"{root / 'dog' / 'empty.png'}: not a readable image")
    assert lines[4].startswith(f"{root / 'cat' / 'cut.jpg'}: cannot decode (OSError: image file is truncated")
    assert not out.exists() or not any(out.iterdir())  # no output, no temporary file


def test_structural_problems_listed_with_the_bad_files(tmp_path):
    root = tmp_path / "images"
    for k in range(5):
        write(root / "cat" / f"{k}.png", random_image(k))
    (root / "cat" / "b.gif").write_text("GIF89a broken")
    (root / "dog").mkdir()
    with pytest.raises(FolderError) as error:
        ingest(tmp_path, {"path": str(root), "on_bad_image": "skip"})  # structural: stops even in skip mode
    assert str(error.value).splitlines()[1:] == [
        f"{root / 'dog'}: empty class folder (no image files)",
        f"{root}: 1 class ['cat'], need at least 2",
    ]
    with pytest.raises(FolderError) as error:
        ingest(tmp_path, {"path": str(root)})
    assert str(error.value).splitlines()[-1].startswith(f"{root / 'cat' / 'b.gif'}: not a readable image")


def test_manifest_problems_in_one_error(tmp_path):
    root = tmp_path / "flat"
    for k in range(4):
        write(root / f"{k}.png", random_image(k))
    (tmp_path / "outside.png").write_bytes((root / "0.png").read_bytes())
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label,split,group\n"
        "0.png,cat,train,g1\n1.png,cat,test,g1\n2.png,dog,train,\n3.png,dog,test,\n"
        "missing.png,dog,train,\n../outside.png,dog,train,\n"
    )
    with pytest.raises(FolderError) as error:
        ingest(tmp_path, {"path": str(root), "manifest": str(manifest)})
    assert str(error.value).splitlines()[1:] == [
        f"{manifest} line 7: '../outside.png' resolves to {(tmp_path / 'outside.png').resolve()}, outside the "
        f"folder {root.resolve()}",
        f"{root}: group 'g1' is in splits ['train', 'test'] (a group must stay in one split)",
        f"{root / 'missing.png'}: no such file (manifest line 6, class 'dog')",
    ]


def test_manifest_splits_without_test_images(tmp_path):
    root = tmp_path / "flat"
    lines = ["path,label,split"]
    for k in range(4):
        write(root / f"{k}.png", random_image(k))
        lines.append(f"{k}.png,{'ab'[k % 2]},{'train' if k < 2 else 'validation'}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(FolderError, match=f"{root}: no test images$"):
        ingest(tmp_path, {"path": str(root), "manifest": str(tmp_path / "m.csv")})


@pytest.mark.parametrize("threads", [1, 2])
def test_skip_mode_leaves_bad_files_out_and_reports_them(tmp_path, threads):
    root = tmp_path / "images"
    files = {}
    for label in ("cat", "dog"):
        for k in range(6):
            files[write(root / label / f"{k}.png", random_image(seed_of(label, k)))] = label
    (root / "cat" / "notes.txt").write_text("not an image")
    buffer = io.BytesIO()
    random_image(4, "RGB", (64, 64)).save(buffer, "JPEG")
    (root / "dog" / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    train, test, report = ingest(tmp_path, {"path": str(root), "on_bad_image": "skip"}, threads=threads)
    assert rows(train, test) == expected_rows(files, ["cat", "dog"])
    skipped = {Path(s["file"]).name: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {"notes.txt", "cut.jpg"}
    assert skipped["notes.txt"].startswith("not a readable image") and "truncated" in skipped["cut.jpg"]
    assert report["totals"]["train"] + report["totals"]["test"] == 12


def leaky_splits(root: Path) -> Path:
    """A split layout where test/cat/leak.bmp has the pixels of train/cat/0.png (another
    format), validation/dog/v.png those of train/dog/0.png, and train/cat/twin.png repeats
    train/cat/1.png within the split."""
    for split, n in (("train", 4), ("validation", 2), ("test", 2)):
        for label in ("cat", "dog"):
            for k in range(n):
                write(root / split / label / f"{k}.png", random_image(seed_of(split, label, k)))
    write(root / "test" / "cat" / "leak.bmp", Image.open(root / "train" / "cat" / "0.png"))
    write(root / "validation" / "dog" / "v.png", Image.open(root / "train" / "dog" / "0.png"))
    write(root / "train" / "cat" / "twin.png", Image.open(root / "train" / "cat" / "1.png"))
    return root


def test_duplicates_across_splits_are_an_error(tmp_path):
    root = leaky_splits(tmp_path / "images")
    with pytest.raises(FolderError) as error:
        ingest(tmp_path, {"path": str(root)})
    assert str(error.value).splitlines()[1:] == [
        f"{root / 'validation/dog/v.png'}: the same pixels as {root / 'train/dog/0.png'} (validation copy of a "
        "train image: leakage between splits)",
        f"{root / 'test/cat/leak.bmp'}: the same pixels as {root / 'train/cat/0.png'} (test copy of a train image: "
        "leakage between splits)",
    ]


def test_duplicates_across_splits_dropped_in_skip_mode(tmp_path):
    root = leaky_splits(tmp_path / "images")
    train_all, test, report = ingest(tmp_path, {"path": str(root), "on_bad_image": "skip"})
    assert len(train_all) == 9 + 4 and len(test) == 4  # train 8 + twin, validation 5 - 1; test 5 - 1
    assert train_all.attrs["given_validation"] == [9, 10, 11, 12]
    assert [(Path(d["file"]).relative_to(root).as_posix(), d["action"]) for d in report["duplicates"]] == [
        ("validation/dog/v.png", "dropped"),
        ("test/cat/leak.bmp", "dropped"),
    ]
    assert [Path(d["file"]).name for d in report["repeated_within_split"]] == ["twin.png"]
    leak = decode(root / "test" / "cat" / "leak.bmp", SIZE, 1)[0]
    assert sum(np.array_equal(leak, image) for image in test.images) == 0


def test_colour_sets_hold_the_rgb_pixels_of_every_file(tmp_path):
    root = tmp_path / "images"
    files = {}
    for k, label in enumerate(("cat", "dog") * 5):
        files[write(root / label / f"{k}.png", random_image(100 + k, "RGB"))] = label
    files[write(root / "cat" / "grey.png", random_image(7))] = "cat"  # grey file: replicated to RGB
    train_all, test, report = ingest(tmp_path, {"path": str(root), "test_share": 0.3}, channels=3)
    assert train_all.images.shape[1:] == test.images.shape[1:] == (SIZE, SIZE, 3)
    assert train_all.attrs["channels"] == test.attrs["channels"] == report["settings"]["channels"] == 3
    expected = Counter((decode(path, SIZE, 3)[0].tobytes(), ["cat", "dog"].index(lab)) for path, lab in files.items())
    assert rows(train_all, test) == expected
    grey = next(image for image in [*train_all.images, *test.images] if np.array_equal(image[..., 0], image[..., 2]))
    assert np.array_equal(grey[..., 0], grey[..., 1])  # the grey file, and only it, has equal channels
    assert sum(np.array_equal(i[..., 0], i[..., 1]) for i in [*train_all.images, *test.images]) == 1


def test_channels_other_than_one_or_three_refused(tmp_path):
    with pytest.raises(ValueError, match="config key 'dataset.channels': 2"):
        ingest_folder(
            folder={"path": str(tmp_path)},
            image_size=SIZE,
            channels=2,
            seed=0,
            train_all=tmp_path / "a.h5",
            test=tmp_path / "b.h5",
            report=tmp_path / "r.json",
            threads=1,
        )
