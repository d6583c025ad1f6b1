"""Every random stream of the pipeline, derived from (master seed, stream name).

One derivation serves all: `stream_key(seed, *parts)` hashes the seed and the stream's
name parts (joined by "/") with BLAKE2b into 64 bits, independent of PYTHONHASHSEED and of
the order in which jobs run. Degradations use the key directly (counter-based random
numbers, `cbir.degrade.random`); torch consumers seed a generator with `torch_seed`.
"""

from __future__ import annotations

import hashlib


def stream_key(seed: int, *parts: object) -> int:
    """A stable 64-bit key of the stream named by `parts` under the master `seed`."""
    text = f"{int(seed)}\x00" + "/".join(map(str, parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def torch_seed(seed: int, *parts: object) -> int:
    """`stream_key` cut to 63 bits: what `torch.Generator.manual_seed` accepts."""
    return stream_key(seed, *parts) >> 1
