"""A folder of labelled images as a dataset source: scanning, checking, splitting, decoding.

Layouts (config `dataset.folder`):

    <path>/<class>/<image>            one split; a seeded share goes to test (`assign_test`)
    <path>/<split>/<class>/<image>    split: train and test, optionally validation
    manifest CSV                      columns path,label[,split][,group]; paths relative to
                                      <path> (or absolute), inside it after resolving symlinks

A class folder's images may sit in subfolders (links to folders are not followed there);
names starting with "." are ignored, and so are files above the class folders (a README, the
manifest); any other file is an image or bad input. Class names are kept as written
and sorted as strings: a class's label is its index in that order. A `group` (manifest only)
is one object of one class, the unit that never straddles splits: a group in two classes or
two splits is an error. The split "validation" is only ever given, never drawn here.

Decoding (`decode`), the same for every format Pillow reads (PNG, JPEG, BMP, TIFF, WebP, ...;
the first frame of a multi-frame file):

    orientation  EXIF orientation applied (ImageOps.exif_transpose);
    alpha        composited on white (RGBA, LA, PA, palette or colour-key transparency): what a
                 viewer shows, and never the arbitrary colour stored under transparent pixels;
    16 bit       I;16, I;16B, I (clipped to 0..65535) scaled as round(v * 255 / 65535), so
                 65535 -> 255 and 32896 -> 128; floating point (F) is refused;
    grey         channels 1: Pillow's convert("L") (ITU-R 601 luma) of the RGB image (a colour
                 JPEG's own luma channel Y, the same weights); 1-bit images are 0 and 255;
                 channels 3: RGB, a grey image replicated;
    shape        the centred square of side min(H, W) (offsets rounded down), then OpenCV's
                 INTER_AREA to image_size x image_size (bilinear when enlarging). A JPEG is
                 decoded with DCT scaling (Image.draft) by the largest of 1/2, 1/4, 1/8 that
                 keeps both sides at least image_size: a low-pass reduction (1/8: exactly the
                 8 x 8 block means) before the area filter, about twice as fast at 256 -> 32 px.

Duplicates are images whose decoded pixels (after orientation and the mode conversion, before
cropping and resizing; a JPEG's DCT-scaled pixels) are equal: `decode` returns a BLAKE2b
digest of them. Bad input is listed, one line per problem naming the file, in one FolderError.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from cbir.seeding import stream_key

SPLITS = ("train", "validation", "test")
MANIFEST_COLUMNS = ("path", "label", "split", "group")  # the first two required
MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA = ("RGBA", "LA", "PA")
MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", *ALPHA, *SIXTEEN_BIT)


class FolderError(ValueError):
    """Bad input in an image folder: one line per problem, each naming the file (or folder,
    manifest line, class) and what is wrong with it."""

    def __init__(self, where: str | os.PathLike, problems: Sequence[str]):
        self.problems = list(problems)
        count = f"{len(self.problems)} problem{'s' * (len(self.problems) != 1)}"
        super().__init__(f"image folder {where}: {count}:\n" + "\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # <root>/<relative path> as found or as the manifest writes it (str: ~300 bytes less than a Path)
    label: str  # the class name
    split: str | None = None  # one of SPLITS, None until assigned
    group: str | None = None  # manifest groups only


@dataclass
class Scan:
    """What `scan` found: the entries, the problems that stop any run (`problems`), the
    entries of files a manifest names that do not exist (`bad`: (entry, reason), skippable)
    and the files ignored (above the class folders)."""

    root: Path
    layout: str  # "classes", "splits" or "manifest"
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bad: list[tuple[Entry, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        """The class names, sorted: a label is an index into this list."""
        return sorted({e.label for e in self.entries} | {e.label for e, _ in self.bad})


def _visible(folder: Path) -> list[os.DirEntry]:
    return sorted((e for e in os.scandir(folder) if not e.name.startswith(".")), key=lambda e: e.name)


def _files_under(folder: str, problems: list[str]) -> list[str]:
    """Every non-hidden file below `folder`, in sorted path order (links to files followed, links
    to folders inside it not: a link cycle would list files again and again)."""
    found = []

    def unreadable(error: OSError) -> None:
        problems.append(f"{error.filename}: cannot list the folder ({type(error).__name__}: {error.strerror})")

    for here, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(here, name) for name in files if not name.startswith(".")]
    return sorted(found)


def _scan_classes(folder: Path, split: str | None, scan: Scan) -> None:
    for entry in _visible(folder):
        if not entry.is_dir():
            scan.ignored.append(Path(entry.path))
            continue
        files = _files_under(entry.path, scan.problems)
        if not files and not os.access(entry.path, os.R_OK | os.X_OK):
            continue  # reported by _files_under
        if not files:
            scan.problems.append(f"{entry.path}: empty class folder (no image files)")
        scan.entries += [Entry(path, entry.name, split) for path in files]


def scan(root: str | os.PathLike, manifest: str | os.PathLike | None = None) -> Scan:
    """The images of the folder `root` (see the module docstring for the layouts)."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(root, [f"{root}: no such folder"])
    if manifest is not None:
        return _scan_manifest(root, Path(manifest))
    top = _visible(root)
    names = [e.name for e in top if e.is_dir()]
    if any(name in SPLITS for name in names):
        result = Scan(root, "splits")
        result.problems += [
            f"{root / name}: not a split folder ({', '.join(SPLITS)}) beside the split folders"
            for name in names
            if name not in SPLITS
        ]
        result.problems += [f"{root / s}: missing split folder" for s in ("train", "test") if s not in names]
        for entry in top:
            if entry.name in SPLITS and entry.is_dir():
                _scan_classes(Path(entry.path), entry.name, result)
            elif not entry.is_dir():
                result.ignored.append(Path(entry.path))
    else:
        result = Scan(root, "classes")
        _scan_classes(root, None, result)
    if not result.entries and not result.problems:
        result.problems.append(
            f"{root}: holds no images (expected <path>/<class>/<image> or <path>/<split>/<class>/<image>)"
        )
    result.entries.sort(key=lambda e: (SPLITS.index(e.split) if e.split else -1, e.label, e.path))
    return result


def _scan_manifest(root: Path, manifest: Path) -> Scan:
    result = Scan(root, "manifest")
    try:
        with open(manifest, newline="") as f:
            reader = csv.reader(f)
            header = [name.strip() for name in next(reader, [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FolderError(root, [f"{manifest}: cannot read the manifest ({type(exc).__name__}: {exc})"]) from exc
    missing = [c for c in MANIFEST_COLUMNS[:2] if c not in header]
    extra = [c for c in header if c not in MANIFEST_COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        raise FolderError(
            root,
            [
                f"{manifest}: columns {header}, expected path,label[,split][,group]"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
                + ("; repeated names" if len(set(header)) != len(header) else "")
            ],
        )
    base = root.resolve()
    seen: dict[Path, int] = {}
    for line, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{manifest} line {line}"
        if len(row) != len(header):
            result.problems.append(f"{where}: {len(row)} fields, the header has {len(header)}")
            continue
        cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        path, label, split, group = (cells.get(c) for c in MANIFEST_COLUMNS)
        if not path or not label:
            result.problems.append(f"{where}: empty {'path' if not path else 'label'}")
            continue
        if split is not None and split not in SPLITS:
            result.problems.append(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
            continue
        full = root / path
        resolved = full.resolve()
        if not resolved.is_relative_to(base):
            result.problems.append(f"{where}: {path!r} resolves to {resolved}, outside the folder {base}")
            continue
        if resolved in seen:
            result.problems.append(f"{where}: {path!r} is the file of line {seen[resolved]} again")
            continue
        seen[resolved] = line
        entry = Entry(str(full), label, split, group or None)
        if not resolved.is_file():
            result.bad.append((entry, f"no such file (manifest line {line}, class {label!r})"))
            continue
        result.entries.append(entry)
    if not result.entries and not result.bad and not result.problems:
        result.problems.append(f"{manifest}: lists no images")
    result.entries.sort(key=lambda e: (SPLITS.index(e.split) if e.split else -1, e.label, e.path))
    return result


def check_entries(entries: Sequence[Entry], classes: Sequence[str], where: str) -> list[str]:
    """Problems of a dataset as a whole: fewer than two classes, a group in two classes or two
    splits, a class without training images (once splits are known)."""
    problems = []
    if len(classes) < 2:
        problems.append(f"{where}: {len(classes)} class{'es' * (len(classes) != 1)} {list(classes)}, need at least 2")
    of_group: dict[str, tuple[set, set]] = {}
    for e in entries:
        if e.group is not None:
            labels, splits = of_group.setdefault(e.group, (set(), set()))
            labels.add(e.label)
            splits.add(e.split)
    for group, (labels, splits) in sorted(of_group.items()):
        if len(labels) > 1:
            problems.append(
                f"{where}: group {group!r} holds images of classes {sorted(labels)} (a group is one object)"
            )
        if len(splits - {None}) > 1:
            problems.append(
                f"{where}: group {group!r} is in splits {sorted(splits - {None}, key=SPLITS.index)} "
                "(a group must stay in one split)"
            )
    if entries and all(e.split is not None for e in entries):
        trained = {e.label for e in entries if e.split == "train"}
        problems += [f"{where}: class {c!r} has no training images" for c in classes if c not in trained]
        if not any(e.split == "test" for e in entries):
            problems.append(f"{where}: no test images")
    return problems


def assign_test(entries: Sequence[Entry], *, test_share: float, seed: int) -> tuple[list[Entry], list[str]]:
    """The entries with a split: per class (in sorted order), round(test_share x n) of its n
    groups (images without a group are their own) drawn with the stream "folder_test" of the
    master seed go to test, the rest to train. A class where that is none or all is a problem."""
    rng = np.random.Generator(np.random.PCG64(stream_key(seed, "folder_test")))
    unit = [("g", e.group) if e.group is not None else ("f", e.path) for e in entries]
    of_class: dict[str, set] = {}
    for e, u in zip(entries, unit, strict=True):
        of_class.setdefault(e.label, set()).add(u)
    test_units, problems = set(), []
    for label in sorted(of_class):
        units = sorted(of_class[label])
        count = int(round(test_share * len(units)))
        if not 0 < count < len(units):
            kind = "groups" if all(u[0] == "g" for u in units) else "images"
            problems.append(
                f"class {label!r}: test_share {test_share} of its {len(units)} {kind} puts {count} in test "
                "(at least one must go to test and one stay in train)"
            )
            continue
        test_units |= {units[k] for k in rng.permutation(len(units))[:count]}
    out = [replace(e, split="test" if u in test_units else "train") for e, u in zip(entries, unit, strict=True)]
    out.sort(key=lambda e: (SPLITS.index(e.split), e.label, e.path))
    return out, problems


@contextlib.contextmanager
def _no_pillow_bomb_limit() -> Iterator[None]:
    """Pillow's own limit off: `probe` applies max_pixels itself, so a limit above Pillow's holds."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _header_problem(image: Image.Image, max_pixels: int) -> str | None:
    width, height = image.size
    if width * height > max_pixels:
        return (
            f"{width} x {height} = {width * height} pixels, over max_pixels {max_pixels} "
            "(a decompression bomb?); not decoded"
        )
    if width < 1 or height < 1:
        return f"empty image ({width} x {height})"
    if image.mode not in MODES:
        return f"image mode {image.mode} is not supported (supported: {', '.join(MODES)})"
    return None


def probe(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> str | None:
    """What is wrong with the image file `path` as its header tells (None: nothing), reading
    no pixels: not a file Pillow identifies, more than `max_pixels` pixels, an unsupported mode."""
    try:
        with _no_pillow_bomb_limit(), Image.open(path) as image:
            return _header_problem(image, max_pixels)
    except Exception as exc:
        return f"not a readable image ({type(exc).__name__}: {exc})"


def probe_chunk(task: tuple[Sequence[str], int]) -> list[str | None]:
    """`probe` of each path of a chunk: the function a process pool maps."""
    paths, max_pixels = task
    return [probe(path, max_pixels) for path in paths]


def to_array(image: Image.Image, channels: int) -> np.ndarray:
    """The pixels of a decoded `image` as uint8 [H, W] (channels 1) or [H, W, 3] (channels 3),
    converted as the module docstring says."""
    if image.mode in SIXTEEN_BIT:
        wide = np.asarray(image).astype(np.int64).clip(0, 65535)
        grey = ((wide + 128) // 257).astype(np.uint8)  # round(v / 257): 257 is odd, no ties
        return grey if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
    if image.mode in ALPHA or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    target = "L" if channels == 1 else "RGB"
    if image.mode == target:
        return np.asarray(image)
    if image.mode in ("1", "L") and channels == 1:
        return np.asarray(image.convert("L"))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(rgb if channels == 3 else rgb.convert("L"))


def square_resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """The centred square of `pixels` ([H, W] or [H, W, 3]) resized to size x size (INTER_AREA)."""
    height, width = pixels.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = pixels[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(square)
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def decode(
    path: str | os.PathLike, image_size: int, channels: int, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, bytes]:
    """The image at `path` as uint8 [S, S] (channels 1) or [S, S, 3] (channels 3), S =
    `image_size`, and the digest of its decoded pixels; raises whatever Pillow raises on a
    damaged file, ValueError on one `probe` refuses."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    with _no_pillow_bomb_limit(), Image.open(path) as image:
        problem = _header_problem(image, max_pixels)
        if problem:
            raise ValueError(problem)
        if image.format == "JPEG":
            image.draft("L" if channels == 1 else "RGB", (image_size, image_size))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        pixels = to_array(image, channels)
    digest = hashlib.blake2b(repr(pixels.shape).encode() + pixels.tobytes(), digest_size=16).digest()
    return square_resize(pixels, image_size), digest


def decode_chunk(task: tuple[Sequence[str], int, int, int]) -> list[tuple[np.ndarray | None, bytes | None, str | None]]:
    """(image, digest, None) or (None, None, problem) for each path of a chunk, in order."""
    paths, image_size, channels, max_pixels = task
    out = []
    for path in paths:
        try:
            out.append((*decode(path, image_size, channels, max_pixels), None))
        except Exception as exc:
            out.append((None, None, f"cannot decode ({type(exc).__name__}: {exc})"))
    return out


def init_worker() -> None:
    """Pool initializer: one OpenCV thread per worker process (the pool is the parallelism)."""
    cv2.setNumThreads(1)
