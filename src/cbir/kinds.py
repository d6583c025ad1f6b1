"""The kinds of degradation a query can hold, as a detector predicts them and a router restores
them: "none" (clean) first, then one kind per family of the paper's degradations. Plain names
only (no arrays), so the run's layout and the config checks can use them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

KINDS = ("none", "noise", "blur", "lowres")
KIND_OF = {"gaussian": "noise", "salt_pepper": "noise", "speckle": "noise", "motion_blur": "blur", "lowres": "lowres"}


class KindError(ValueError):
    """Degradations of several kinds where one is expected, or an unknown degradation."""


def kind_of(specs: Sequence[Mapping]) -> str:
    """The kind of a list of degradation specs: "none" for no specs; all specs must share one."""
    names = [spec["name"] for spec in specs]
    unknown = sorted(set(names) - set(KIND_OF))
    if unknown:
        raise KindError(f"unknown degradation(s) {unknown}; expected some of {sorted(KIND_OF)}")
    kinds = {KIND_OF[name] for name in names}
    if len(kinds) > 1:
        raise KindError(f"degradations {names} mix the kinds {sorted(kinds)}")
    return kinds.pop() if kinds else "none"
