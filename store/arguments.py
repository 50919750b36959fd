"""Checks of the arguments of the public store functions.

Names are checked by :mod:`memshare.store.names`; this module turns the
``names`` argument into a list and checks the keyword flags.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from memshare.store.errors import InvalidNameError
from memshare.store.names import validate_name

__all__ = ["check_flag", "name_list"]


def name_list(names: str | Iterable[str]) -> list[str]:
    """Return `names` as a list of validated object names without repeats.

    A single string is one name, not an iterable of characters. Repeated
    names count once, so one call takes or drops one reference per name.
    """
    if isinstance(names, str):
        names = [names]
    elif not isinstance(names, Iterable):
        raise InvalidNameError(
            f"names must be a str or an iterable of str, got {type(names).__name__} {names!r}",
            value=names,
        )
    unique = list(dict.fromkeys(names))
    for name in unique:
        validate_name(name, "object name")
    return unique


def check_flag(value: object, parameter: str) -> bool:
    """Return `value` if it is a bool, else raise ``TypeError`` naming `parameter`.

    A truthy string such as ``"no"`` would otherwise switch the option on.
    numpy's ``np.bool_`` is accepted too, because comparisons of arrays
    produce it.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{parameter} must be True or False, got {type(value).__name__} {value!r}")
