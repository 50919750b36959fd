"""Validation of namespace and object names.

A name becomes part of a file name in the store root, so it must not be able
to leave its folder, hide from listings or collide with the store's own
temporary files (which start with a dot).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Final

from memshare.store.errors import InvalidNameError

__all__ = ["MAX_NAME_LENGTH", "NAME_RULE", "summarize_names", "validate_name"]

# Short enough that "<name>.<object id>.arrow" and the temporary file names
# built from it stay far below the 255-byte file name limit of Linux.
MAX_NAME_LENGTH: Final = 128

NAME_RULE: Final = (
    f"1 to {MAX_NAME_LENGTH} characters from A-Z a-z 0-9 _ . -, "
    "starting with a letter, digit or underscore"
)

# How many names an error message lists before it ends with "and N more", so
# that a namespace of thousands of objects does not make a message of kilobytes.
MAX_LISTED_NAMES: Final = 20

# The first character excludes '.' and '-', so names such as '..', '.hidden'
# or '-rf' are invalid; '/' and control characters are never allowed.
_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def validate_name(value: object, kind: str = "name") -> str:
    """Check that `value` is a valid namespace or object name and return it.

    Parameters
    ----------
    value : object
        The candidate name.
    kind : str
        The kind of name ("namespace" or "object name"), used in the message.

    Returns
    -------
    str
        `value` unchanged.

    Raises
    ------
    InvalidNameError
        If `value` is not a string, is empty, longer than ``MAX_NAME_LENGTH``
        or contains characters outside the rule.
    """
    # "an object name", "a namespace": the article follows the first sound.
    article = "an" if kind.startswith(("a", "e", "i", "o", "u")) else "a"
    if not isinstance(value, str):
        raise InvalidNameError(
            f"invalid {kind} {value!r}: expected a str, got {type(value).__name__}; "
            f"{article} {kind} has {NAME_RULE}",
            value=value,
        )

    if len(value) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"invalid {kind} {value[:40]!r}...: {len(value)} characters is too long; "
            f"{article} {kind} has {NAME_RULE}",
            value=value,
        )

    if _NAME_PATTERN.fullmatch(value) is None:
        raise InvalidNameError(
            f"invalid {kind} {value!r}: {article} {kind} has {NAME_RULE}",
            value=value,
        )

    return value


def summarize_names(present: Sequence[str], requested: str) -> str:
    """Describe the names in `present` for an error about the missing `requested`.

    Names close to `requested` (a likely typo) come first, then the others in
    order, at most ``MAX_LISTED_NAMES`` in all, followed by "and N more".
    An empty `present` gives "none".
    """
    if not present:
        return "none"

    close = difflib.get_close_matches(requested, present, n=MAX_LISTED_NAMES, cutoff=0.6)
    ordered = close + [name for name in present if name not in close]
    listed = ", ".join(ordered[:MAX_LISTED_NAMES])
    hidden = len(ordered) - MAX_LISTED_NAMES
    if hidden > 0:
        return f"{listed} and {hidden} more"
    return listed
