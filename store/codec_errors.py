"""The error for an object file that the codec cannot read, with the fix that fits its path."""

from __future__ import annotations

import os
import re
from typing import Final

from memshare.store.errors import MemshareError

__all__ = ["DamagedObjectError", "damaged_object"]

#: A data file in the store is <root>/<namespace>/<name>.<object id>.arrow,
#: where the object id is 32 lowercase hex digits.
_DATA_FILE: Final = re.compile(r"(?P<name>.+)\.[0-9a-f]{32}\.arrow")


class DamagedObjectError(MemshareError, ValueError):
    """An object file, or the layout that describes it, cannot be read.

    The file was truncated or changed after it was written, or it was written
    by a version of memshare with another file format. The attributes are
    ``path``, and ``namespace`` and ``name`` when the path is a store data file
    (else None).
    """


def damaged_object(path: str, reason: str) -> DamagedObjectError:
    """Return the error for the unreadable object file at ``path``.

    When ``path`` has the form of a store data file, the fix names the
    ``memshare rm --force NAMESPACE/NAME`` command; otherwise it names the file.
    """
    match = _DATA_FILE.fullmatch(os.path.basename(path))
    namespace = os.path.basename(os.path.dirname(path)) if match else ""
    if match and namespace:
        name = match.group("name")
        fix = f"run 'memshare rm --force {namespace}/{name}' and register the object again"
    else:
        name = None
        namespace = None
        fix = f"remove the file {path} and write the object again"
    return DamagedObjectError(
        f"cannot read the object file {path}: {reason}; {fix}",
        path=path,
        namespace=namespace,
        name=name,
    )
