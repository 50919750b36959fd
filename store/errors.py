"""Exception hierarchy shared by the store, the runner and the job files.

Every error memshare raises derives from :class:`MemshareError`. Each leaf
also derives from the builtin exception a caller would already catch for that
kind of failure (``KeyError`` for a missing object, ``TypeError`` for a value
that cannot be stored, ...), so ``except KeyError`` keeps working.

The errors are picklable with their attributes, because worker processes
raise them and the parent re-raises them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MemshareError",
    "ObjectNotFoundError",
    "ObjectExistsError",
    "ObjectInUseError",
    "UnsupportedTypeError",
    "DamagedObjectError",
    "InvalidNameError",
    "StoreFullError",
    "StoreRootError",
    "UnsupportedPlatformError",
    "ViewNotHeldError",
    "ForeignObjectError",
]


class MemshareError(Exception):
    """Base class of every error raised by memshare.

    Parameters
    ----------
    message : str
        The complete message: what failed, on which value, and what to do.
    **fields
        Facts about the failure (namespace, name, path, ...), kept as
        attributes so that callers need not parse the message.
    """

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes; every leaf shows
        # the plain message instead.
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {k: v for k, v in self.__dict__.items() if k != "message"}
        return (_rebuild, (type(self), self.message, fields))


def _rebuild(cls: type[MemshareError], message: str, fields: dict[str, Any]) -> MemshareError:
    return cls(message, **fields)


class ObjectNotFoundError(MemshareError, KeyError):
    """No object of that name exists in the namespace (or it was released)."""


class ObjectExistsError(MemshareError, ValueError):
    """An object of that name already exists in the namespace."""


class ObjectInUseError(MemshareError, RuntimeError):
    """The object cannot be removed because processes still hold views of it."""


class UnsupportedTypeError(MemshareError, TypeError):
    """The value has a type or dtype the store cannot hold."""


class InvalidNameError(MemshareError, ValueError):
    """A namespace or object name is empty, too long or has unsafe characters."""


class StoreFullError(MemshareError, OSError):
    """The store's file system has too little free space for the object."""


class StoreRootError(MemshareError, OSError):
    """The store root is missing, unwritable, or not safe to use."""


class UnsupportedPlatformError(MemshareError, OSError):
    """The platform lacks the shared-memory semantics memshare relies on."""


class ViewNotHeldError(MemshareError, KeyError):
    """The calling process holds no view of the object it tries to release."""


class ForeignObjectError(MemshareError, KeyError):
    """A ``Store`` was asked to delete an object that it did not register."""


class DamagedObjectError(MemshareError, ValueError):
    """An object file, or the layout that describes it, cannot be read.

    The file was truncated or changed after it was written, or it was written
    by a version of memshare with another file format. The attributes are
    ``path``, and ``namespace`` and ``name`` when the path is a store data file
    (else None).
    """
