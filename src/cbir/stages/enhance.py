"""Stage of workflow/rules/enhance.smk: degraded query sets restored by their enhancer, and
the before/after figures.

Modules that import torch are imported inside `enhance_query_set` for a network only, and
matplotlib inside the figure stage, so a classical restoration starts neither.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np

from cbir.h5store import read_image_set, write_image_set
from cbir.imagemath import refuse_blanked

log = logging.getLogger("cbir.stages.enhance")


def network_expectation(name: str, enhancer: Mapping, seed: int | None = None) -> dict:
    """What the checkpoint of the enhancer network `name` (config `enhancers.<name>`) must be:
    that enhancer, of its network, trained with that recipe (and `seed`, the replicate's)."""
    return {"role": "enhancer", "name": name, "arch": enhancer["network"], "recipe": dict(enhancer), "seed": seed}


def restore_images(
    enhancer: dict, images: np.ndarray, model, query_set, queries, runtime, batch_size, threads, tuned=None, expect=None
):
    """(restored images, attributes describing the restorer) for a network (its checkpoint
    `model` must be what `expect` says) or a classical method (its `auto` parameters from the
    tuning file `tuned`, chosen on the validation split)."""
    if "method" in enhancer:
        from cbir.classical import restore
        from cbir.stages.tune import read_tuned
        from cbir.tuning import auto_params, resolve

        if auto_params(enhancer) and tuned is None:
            raise ValueError(f"enhancer {enhancer['method']!r} has auto parameters but no tuning file was given")
        params = resolve(enhancer, read_tuned(tuned) if auto_params(enhancer) else None)
        return restore(images, **params), {"enhancer_params": params, "tuning": str(tuned or "")}
    from cbir.checkpoint import public_meta
    from cbir.inference import enhance
    from cbir.networks import ENHANCER_KINDS
    from cbir.stages.common import load_network

    if model is None:
        raise ValueError(f"enhancer network {enhancer['network']!r} needs a trained checkpoint; none was given")
    net, meta = load_network(
        model,
        kind=tuple(ENHANCER_KINDS),
        images=query_set,
        images_path=queries,
        runtime=runtime,
        threads=threads,
        expect=expect,
    )
    return enhance(net, images, batch_size=batch_size), {
        "enhancer_model": str(model),
        "enhancer_weights_sha256": meta["weights_sha256"],
        "enhancer_meta": public_meta(meta),
    }


def route_images(
    enhancer: Mapping, query_set, queries, routing: Mapping, inputs: Mapping, runtime, batch_size, threads
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(restored images, each query's routed kind, attributes) of a routed enhancer: every query
    of kind k (the detector's prediction, route `detector`; the stored truth, route `truth`) goes
    through the restorer `routing["routes"][k]`, a clean one (or a kind without a route) through
    nothing. `inputs`: the detector's checkpoint (`detector`) and each route's
    `<kind>_model` / `<kind>_tuned` (`cbir.layout.RunLayout.routed_inputs`)."""
    from cbir.degrade import KINDS
    from cbir.mixture import true_kinds

    images = query_set.images
    if enhancer["route"] == "truth":
        kinds = true_kinds(query_set)
        extra = {"route": "truth"}
    else:
        from cbir.stages.common import load_network
        from cbir.train.detector import predict_kinds

        net, meta = load_network(
            inputs["detector"], kind="detector", images=query_set, images_path=queries, runtime=runtime,
            threads=threads, expect=routing["detector"],
        )  # fmt: skip
        kinds = predict_kinds(net, images, batch_size=batch_size)
        extra = {
            "route": "detector",
            "detector_model": str(inputs["detector"]),
            "detector_sha256": meta["weights_sha256"],
        }
    out = images.copy()
    used = {}
    for kind, route in routing["routes"].items():
        rows = np.flatnonzero(kinds == KINDS.index(kind))
        used[kind] = {"enhancer": route["name"], "queries": int(rows.size)}
        if rows.size:
            subset = query_set.subset(rows)
            out[rows], _ = restore_images(
                dict(route["enhancer"]), subset.images, inputs.get(f"{kind}_model"), subset, queries, runtime,
                batch_size, threads, inputs.get(f"{kind}_tuned"), route["expect"],
            )  # fmt: skip
    log.info("routed %s: %s", queries, used)
    return out, kinds, {**extra, "routes": used}


def enhance_query_set(
    *,
    queries: str | os.PathLike,
    model: str | os.PathLike | None,
    output: str | os.PathLike,
    query: str,
    name: str,
    enhancer: dict,
    runtime: dict,
    batch_size: int,
    threads: int,
    tuned: str | os.PathLike | None = None,
    expect: Mapping | None = None,
    routing: Mapping | None = None,
    inputs: Mapping | None = None,
) -> None:
    """One query set of rule enhance_<enhancer>: `query` restored by the enhancer `name` (config
    `enhancers.<name>`: a network whose checkpoint is `model`, or a classical method whose
    `auto` parameters come from `tuned`, the tuning rule's JSON) -> `output`, same columns;
    the attributes keep the query set's and name the enhancer and its parameters.

    A network's checkpoint must be that enhancer's, of its network and recipe
    (`network_expectation`); `expect` adds to or overrides that (the rule gives the seed). Grey
    and colour query sets alike: the output keeps the input's layout, and a network trained on
    the other kind of image is refused (`cbir.stages.common.load_network`, `cbir.inference`).
    A routed enhancer (`route`) restores each query by its kind's restorer (`route_images`;
    `routing`: the rule's route params, `inputs`: its input files) and stores the kind it routed
    by in the column ``routed_kind``."""
    query_set = read_image_set(queries)
    columns = dict(query_set.columns)
    if "route" in enhancer:
        restored, columns["routed_kind"], extra = route_images(
            enhancer, query_set, queries, routing, inputs or {}, runtime, batch_size, threads
        )
        used = {"route": enhancer["route"]}
    else:
        if "network" in enhancer:
            expect = {**network_expectation(name, enhancer), **(expect or {})}
        restored, extra = restore_images(
            enhancer, query_set.images, model, query_set, queries, runtime, batch_size, threads, tuned, expect
        )
        used = extra.get("enhancer_params") or {"network": enhancer["network"], "model": str(model)}
    refuse_blanked(query_set.images, restored, f"{query!r} restored by {name!r}", [used] * len(restored), output)
    attrs = {
        **query_set.attrs,
        "query_set": query,
        "enhancer": name,
        "enhancer_config": enhancer,
        "enhanced_from": str(queries),
        **extra,
    }
    write_image_set(output, restored, columns, attrs)
    log.info("wrote %s: %d images of %s restored by %s", output, len(restored), query, name)


def enhance_query_sets(
    *,
    queries: Sequence[str | os.PathLike],
    outputs: Sequence[str | os.PathLike],
    names: Sequence[str],
    name: str,
    inputs: Mapping,
    **restorer,
) -> None:
    """Rule enhance_<enhancer>: every query set the enhancer `name` restores (`names`, files
    `queries`) -> `outputs`, one `enhance_query_set` each in one process (torch imported and the
    job started once). `inputs`: the rule's input files (a model, a tuning file, a router's
    detector and routes); `restorer`: the other keywords of `enhance_query_set`."""
    if not len(queries) == len(outputs) == len(names):
        raise ValueError(f"{len(names)} query sets, {len(queries)} inputs and {len(outputs)} outputs")
    for query, path, output in zip(names, queries, outputs, strict=True):
        enhance_query_set(
            queries=path, output=output, query=query, name=name, model=inputs.get("model"),
            tuned=inputs.get("tuned"), inputs=inputs, **restorer,
        )  # fmt: skip


def plot_enhancement(
    *,
    clean: str | os.PathLike,
    degraded: str | os.PathLike,
    restored: dict[str, str | os.PathLike],
    output: str | os.PathLike,
    query: str,
    seed: int,
) -> None:
    """Rule plot_enhancement: the same test images clean, degraded and through every enhancer
    of the query set; all sets must hold the same images in the same order (checked on the labels)."""
    from cbir.plots import save_figure
    from cbir.plots.enhancement import enhancement_figure

    clean_set, degraded_set = read_image_set(clean), read_image_set(degraded)
    restored_sets = {name: read_image_set(path) for name, path in restored.items()}
    for path, other in [(degraded, degraded_set), *zip(restored.values(), restored_sets.values(), strict=True)]:
        if not np.array_equal(clean_set.labels, other.labels):
            raise ValueError(f"{path} does not hold the images of {clean} (labels differ)")
    fig = enhancement_figure(
        clean_set.images,
        degraded_set.images,
        {name: s.images for name, s in restored_sets.items()},
        seed=seed,
        title=query,
    )
    save_figure(fig, output)
    log.info("wrote %s", output)
