"""Round-trip helper shared by the codec tests, which call the codec directly
on files in a private /dev/shm folder (the ``shm_dir`` fixture)."""

from __future__ import annotations

import itertools
from pathlib import Path

from memshare.store import codec

_file_numbers = itertools.count()


def round_trip(value: object, folder: Path) -> tuple[object, codec.Encoded, Path]:
    """Encode, write and attach ``value`` in a new file; check the size bound."""
    encoded = codec.encode(value)
    path = folder / f"object-{next(_file_numbers)}.arrow"
    layout = encoded.write(str(path))
    assert encoded.size_bound >= path.stat().st_size
    return codec.attach(str(path), layout), encoded, path
