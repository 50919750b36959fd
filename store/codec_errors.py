"""Build the error for an object file the codec cannot read, with the fix for its path."""

from __future__ import annotations

import os
import re
from typing import Final

from memshare.store.errors import DamagedObjectError

__all__ = ["damaged_object"]

#: A data file in the store is <root>/<namespace>/<name>.<object id>.arrow,
#: where the object id is 32 lowercase hex digits.
_DATA_FILE: Final = re.compile(r"(?P<name>.+)\.[0-9a-f]{32}\.arrow")


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
