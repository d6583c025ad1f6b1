"""`cbir export`: a run's gallery embeddings as one Parquet table, and `cbir runs`: the runs
under a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import numpy as np

from cbir.cli.rundir import JUDGE, CliError, Run, read_h5_attrs
from cbir.fsutil import atomic_path
from cbir.h5store import COLUMNS, class_names, read_embeddings


def gallery_frame(run: Run, keys: str, replicate: int):
    """The gallery embeddings of key set `keys` and `replicate` as a DataFrame: the row in the
    gallery (= row of data/train.h5), the label and its class name, the other metadata columns
    (instance: a folder source's group id), then one float32 column per feature (f000, f001, ...,
    the stored values); `attrs` holds the file's attributes and what was exported."""
    import pandas as pd

    _, gallery_path, model_keys = run.searched_by(keys, replicate)
    gallery = read_embeddings(gallery_path)
    names = class_names(gallery.attrs, gallery.labels, gallery_path)
    n, dim = gallery.features.shape
    data = {"gallery_index": np.arange(n, dtype=np.int64), "label": gallery.labels}
    data["class_name"] = np.array(names, dtype=object)[gallery.labels]
    data.update({c: gallery.columns[c] for c in COLUMNS if c != "label"})
    width = len(str(dim - 1))
    features = pd.DataFrame(gallery.features, columns=[f"f{j:0{width}d}" for j in range(dim)])
    frame = pd.concat([pd.DataFrame(data), features], axis=1)
    frame.attrs = {
        **gallery.attrs,
        "export": {
            "run": run.name,
            "keys": keys,
            "model_keys": model_keys,
            "replicate": replicate,
            "gallery": run.rel(gallery_path),
            "classes": names,
            "features": [f"f{0:0{width}d}", f"f{dim - 1:0{width}d}"],
        },
    }
    return frame


def export(args, out: TextIO, err: TextIO) -> int:
    """The `cbir export` command: the gallery table written atomically as Parquet, the file's
    attributes in its key-value metadata (pandas keeps DataFrame.attrs under PANDAS_ATTRS, and
    pandas.read_parquet gives them back)."""
    run = Run.find(args.results, args.run)
    frame = gallery_frame(run, args.keys, args.replicate)
    with atomic_path(args.to) as tmp:
        frame.to_parquet(tmp, index=False)
    n_features = len(frame.columns) - len(COLUMNS) - 2
    print(f"wrote {args.to}: {len(frame)} gallery images of run {run.name}, {n_features} features each", file=out)
    return 0


def _size(n: float) -> str:
    """Bytes as du -h writes them: 512B, 3.4M, 2.3G."""
    unit = "B"
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            break
        n /= 1024
    return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"


def describe_run(run: Run) -> dict[str, str]:
    """One row of `cbir runs`; what a run lacks (an older or unfinished one) shows as "-"."""
    attrs, shape = read_h5_attrs(run.file("data", "train.h5"))
    config = run.recorded_config or {}
    source = (config.get("dataset") or {}).get("source") or attrs.get("source") or "-"
    image = "-" if shape is None else f"{shape[1]}x{shape[2]} {'colour' if len(shape) == 4 else 'grey'}"
    keys = run.key_sets()
    if any(p.name.startswith(JUDGE) for p in run.file("embeddings").glob("*")):
        keys.append(f"({JUDGE})")
    return {
        "run": run.name,
        "config": (run.digest or "-")[:12],
        "source": source,
        "images": image,
        "replicates": ",".join(map(str, run.replicates())) or "-",
        "keys": ",".join(keys) or "-",
        "queries": ",".join(run.query_sets()) or "-",
        "finished": "yes" if run.finished else "no",
        "disk": _size(run.disk_usage()),
    }


def runs(args, out: TextIO, err: TextIO) -> int:
    """The `cbir runs` command: a table of the runs under --results, by name."""
    results = Path(args.results)
    if not results.is_dir():
        raise CliError(f"no results folder {results}")
    rows = [describe_run(Run(path)) for path in sorted(results.iterdir()) if path.is_dir()]
    if not rows:
        print(f"no runs under {results}/", file=out)
        return 0
    widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
    for row in [{key: key for key in widths}, *rows]:
        print("  ".join(f"{row[key]:<{widths[key]}}" for key in widths).rstrip(), file=out)
    return 0
