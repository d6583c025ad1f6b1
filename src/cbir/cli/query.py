"""`cbir query`: image files embedded as the run embeds its queries, searched in its gallery.

The path of each image, as the pipeline's stages take it:

1. decoded like the folder source decodes (`cbir.folder.decode`: EXIF orientation, centred
   square, area resize) to the size and channels the classifier was trained on;
2. optionally degraded (`cbir.degrade.degrade`, the run's seed and `degradation.rescale`,
   random stream "cli", image i of the command line is index i: the same command degrades alike);
3. optionally restored by the restorer of `cbir.stages.enhance` (a trained network of the
   replicate, or a classical method with the recorded config's parameters and tuned choice; a
   router by the detector, such as the default run's `blind`: each image to the restorer of the
   kind the replicate's detector sees in it, the kind printed with the image);
4. embedded by the key set's classifier (`cbir.stages.common.load_network`, `cbir.inference.embed`
   with the run's inference batch size), which must be the model that embedded the gallery;
5. searched with `cbir.search.topk` (the run's chunk size) in the gallery embeddings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

import numpy as np

from cbir.cli.rundir import CliError, Run, read_h5_attrs
from cbir.h5store import ImageSet, class_names, read_embeddings

STREAM = "cli"  # the random stream of --degrade
QUERY_COLOUR = "#1f5fbf"  # the retrieval figure's query frame (cbir.plots.retrieval)


def parse_degradation(text: str) -> dict:
    """'motion_blur:sigma=0.15,T=1' -> {"name": "motion_blur", "sigma": 0.15, "T": 1}; values are
    integers, floats or true/false, checked and completed by `complete_degradations`."""
    name, _, rest = text.partition(":")
    spec: dict = {"name": name.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise CliError(f"--degrade {text!r}: expected NAME or NAME:PARAM=VALUE,PARAM=VALUE")
        spec[key] = _value(value)
    return spec


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text  # the schema names what it expected


def complete_degradations(texts: list[str]) -> list[dict]:
    """The specs of the --degrade options with every missing parameter at the schema's default and
    every value checked against its range, as the run's config validation does."""
    from cbir.config import ConfigError, validate_config
    from cbir.degrade import check_specs

    specs = [parse_degradation(text) for text in texts]
    try:
        config = validate_config({"queries": {STREAM: specs}})
    except ConfigError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[1:]] or [str(exc)]

        def which(match: re.Match) -> str:  # queries.cli.0.sigma -> the option and its parameter
            where = f"--degrade {texts[int(match[1])]!r}"
            return f"{where}: parameter {match[2]!r}" if match[2] else where

        raise CliError(
            "; ".join(re.sub(rf"config key 'queries\.{STREAM}\.(\d+)\.?([^']*)'", which, s) for s in lines)
        ) from None
    return check_specs(config["queries"][STREAM])


def decode_images(paths: list[str], size: int, channels: int) -> np.ndarray:
    """The image files as uint8 [N, S, S] or [N, S, S, 3], decoded like the folder source."""
    from cbir.folder import decode

    images = []
    for path in paths:
        if not Path(path).is_file():
            raise CliError(f"cannot read image {path}: no such file")
        try:
            images.append(decode(path, size, channels)[0])
        except Exception as exc:  # Pillow raises by the damage it meets: whatever it is, name the file
            raise CliError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc
    return np.stack(images)


def describe_spec(spec: dict) -> str:
    return f"{spec['name']}({', '.join(f'{k}={v}' for k, v in spec.items() if k != 'name')})"


def _input_size(run: Run, gallery_attrs: dict) -> tuple[int, int]:
    """(image size, channels) the classifier takes: its meta as the gallery records it, else
    the gallery split's images."""
    size = (gallery_attrs.get("model_meta") or {}).get("input_size")
    if not size:
        _, shape = read_h5_attrs(run.file("data", "train.h5"))
        if shape is None:
            raise CliError(f"run {run.name}: neither the gallery nor data/train.h5 records the image size")
        size = shape[1:]
    return int(size[0]), 3 if len(size) == 3 else 1


def gallery_images(run: Run, indices: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """The gallery images of `indices` (rows of data/train.h5, the split rule embed_gallery
    embeds), reading only those rows; the split must match the gallery's labels row for row."""
    import h5py

    path = run.file("data", "train.h5")
    wanted = np.unique(indices)
    try:
        with h5py.File(path, "r") as h5:
            stored = h5["label"][()]
            images = h5["images"][wanted]
    except Exception as exc:
        raise CliError(f"cannot read the gallery images {run.rel(path)}: {type(exc).__name__}: {exc}") from exc
    if not np.array_equal(stored, labels):
        raise CliError(f"{run.rel(path)} does not hold the gallery's images (its labels differ): a stale split?")
    return {int(i): image for i, image in zip(wanted, images, strict=True)}


def route(run: Run, args, recipe: dict, images: np.ndarray, runtime, batch_size: int, threads: int):
    """(restored images, each image's detected kind) by the router `args.enhancer` (`route:
    detector`): the replicate's detector tells each image's kind, the run's restorer of that kind
    (`cbir.blind_plan.kind_routes` of the recorded config) restores it, a clean one stays. A router
    by the truth cannot serve images that carry no kind."""
    from cbir.blind_plan import kind_routes
    from cbir.kinds import KINDS
    from cbir.layout import tag_of
    from cbir.stages.enhance import route_images

    if recipe["route"] != "detector":
        raise CliError(
            f"enhancer {args.enhancer!r} routes by each query's true kind, which an image file does not carry; "
            "use a router by the detector (the default run's `blind`)"
        )
    config = run.recorded_config or {}
    routes = kind_routes(config.get("queries", {}), config.get("enhance", {}), config.get("enhancers", {}))
    detector = run.file("models", f"detector{tag_of(args.replicate)}.pt")
    if not detector.is_file():
        raise CliError(f"run {run.name} has no detector {run.rel(detector)} (replicate {args.replicate})")
    inputs, routing = {"detector": detector}, {"detector": {"role": "detector"}, "routes": {}}
    for kind, name in routes.items():
        route_recipe, checkpoint, tuned = run.restorer(name, args.replicate)
        inputs.update({f"{kind}_model": checkpoint, f"{kind}_tuned": tuned})
        expect = {"role": "enhancer", "name": name}
        routing["routes"][kind] = {"name": name, "enhancer": route_recipe or {}, "expect": expect}
    restored, kinds, _ = route_images(
        recipe, ImageSet(images, {}), "the query images", routing, inputs, runtime, batch_size, threads
    )
    return restored, [KINDS[k] for k in kinds]


def query(args, out: TextIO, err: TextIO) -> int:
    """The `cbir query` command (see the module docstring)."""
    run = Run.find(args.results, args.run)
    model, gallery_path, model_keys = run.searched_by(args.keys, args.replicate)
    specs = complete_degradations(args.degrade) if args.degrade else []
    restorer = run.restorer(args.enhancer, args.replicate) if args.enhancer else None
    config = run.config()
    gallery = read_embeddings(gallery_path)
    n_gallery = len(gallery.features)
    if args.k > n_gallery:
        raise CliError(f"-k {args.k} exceeds the gallery size {n_gallery} ({run.rel(gallery_path)})")
    names = class_names(gallery.attrs, gallery.labels, gallery_path)
    size, channels = _input_size(run, gallery.attrs)
    decoded = decode_images(args.images, size, channels)

    # torch only now: every argument error above answers without it
    import torch

    from cbir.imagemath import blanked
    from cbir.inference import embed
    from cbir.search import topk
    from cbir.stages.common import check_gallery_model, load_network

    runtime, threads = {"device": args.device}, torch.get_num_threads()
    batch_size = int(config["inference"]["batch_size"])
    stages = {"input": decoded}
    if specs:
        from cbir.degrade import degrade

        rescale = config["degradation"]["rescale"]
        stages["degraded"] = degrade(decoded, specs, seed=run.seed(), stream=STREAM, rescale=rescale, threads=1)
    routed = None
    if restorer is not None and "route" in (restorer[0] or {}):
        source = stages.get("degraded", decoded)
        stages["restored"], routed = route(run, args, restorer[0], source, runtime, batch_size, threads)
    elif restorer is not None:
        # the enhance stage's own restoration of in-memory images (network or classical method)
        from cbir.stages.enhance import network_expectation, restore_images

        recipe, checkpoint, tuned = restorer
        source = stages.get("degraded", decoded)
        expect = None
        if checkpoint is not None:  # the recorded config's recipe when there is one, as the pipeline expects
            expect = (
                network_expectation(args.enhancer, recipe) if recipe else {"role": "enhancer", "name": args.enhancer}
            )
        stages["restored"], _ = restore_images(
            recipe or {},
            source,
            checkpoint,
            ImageSet(source, {}),
            "the query images",
            runtime,
            batch_size,
            threads,
            tuned,
            expect,
        )
    searched = list(stages.values())[-1]
    for step, images in list(stages.items())[1:]:
        for i in np.flatnonzero(blanked(decoded, images)):
            print(
                f"cbir query: warning: {args.images[i]} came out constant ({step}): its search means little", file=err
            )
    net, meta = load_network(
        model,
        kind="classifier",
        images=ImageSet(searched, {}),
        images_path="the query images",
        runtime=runtime,
        threads=threads,
        expect={"role": "classifier", "name": model_keys},
    )
    check_gallery_model(model, meta, gallery_path, gallery.attrs)
    features = embed(net, searched, batch_size=batch_size)
    chunk_size = int(config["retrieval"]["chunk_size"])
    indices, scores = topk(features, gallery.features, k=args.k, distance=args.distance, chunk_size=chunk_size)

    how = [f"degraded by {' or '.join(map(describe_spec, specs))}"] if specs else []
    how += [f"restored by {args.enhancer}"] if restorer else []
    order = "smallest first" if args.distance == "l2" else "cosine similarity, largest first"
    print(
        f"run {run.name}, key set {args.keys}, replicate {args.replicate}: {n_gallery} gallery images, "
        f"{args.distance} ({order})",
        file=out,
    )
    width = max(len("class"), *(len(names[int(gallery.labels[g])]) for g in indices.ravel()))
    for q, path in enumerate(args.images):
        said = how + ([f"detected as {routed[q]}"] if routed else [])
        print(f"\nquery {q + 1}: {path}" + (f" ({', '.join(said)})" if said else ""), file=out)
        print(f"{'rank':>4}  {'gallery':>7}  {'class':<{width}}  {args.distance}", file=out)
        for rank, (g, score) in enumerate(zip(indices[q], scores[q], strict=True), start=1):
            print(f"{rank:>4}  {int(g):>7}  {names[int(gallery.labels[g])]:<{width}}  {score:.6g}", file=out)
    if args.out:
        from cbir.cli.montage import montage

        title = f"run {run.name}, key set {args.keys}, replicate {args.replicate}: top {args.k} by {args.distance}"
        images = gallery_images(run, indices, gallery.labels)
        montage(args.images, stages, indices, scores, gallery.labels, images, names, title, args.out)
        print(f"\nwrote {args.out}", file=out)
    return 0
