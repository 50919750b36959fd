"""The :class:`Store` class: one namespace used like a dictionary."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from types import TracebackType

from memshare.store import api
from memshare.store.arguments import check_flag
from memshare.store.errors import ForeignObjectError, ObjectNotFoundError
from memshare.store.metadata import ObjectMetadata
from memshare.store.names import validate_name

__all__ = ["Store"]

logger = logging.getLogger(__name__)


class Store:
    """A namespace of the store with dictionary syntax and a scoped lifetime.

    ``store["X"] = X`` registers ``X`` (replacing what this Store registered
    under that name earlier), ``store["X"]`` returns a read-only view,
    ``del store["X"]`` releases an object this Store registered. Deleting
    any other object raises :class:`ForeignObjectError`, and
    ``release_variables`` removes such an object. On exit, or on
    :meth:`close`, the Store drops every view it handed out and releases
    every object it registered, unless it was created with ``persist=True``.

    Parameters
    ----------
    namespace : str
        The namespace all names refer to.
    persist : bool
        Register objects with ``persist=True``: they stay after :meth:`close`
        and after this process exits.

    Examples
    --------
    >>> with Store("demo") as store:                      # doctest: +SKIP
    ...     store["X"] = np.arange(10)
    ...     view = store["X"]
    """

    def __init__(self, namespace: str, *, persist: bool = False) -> None:
        self.namespace = validate_name(namespace, "namespace")
        self.persist = check_flag(persist, "persist")
        self._registered: set[str] = set()
        # Views handed out by __getitem__, per name; each is one holder
        # reference, dropped by close() or by del store[name].
        self._viewed: Counter[str] = Counter()

    def __setitem__(self, name: str, value: object) -> None:
        # Only an object this Store registered is replaced silently; any
        # other existing object of that name raises ObjectExistsError.
        overwrite = name in self._registered
        api.register_variables(
            self.namespace, {name: value}, overwrite=overwrite, persist=self.persist
        )
        self._registered.add(name)

    def __getitem__(self, name: str) -> object:
        view = api.retrieve_views(self.namespace, name)[name]
        self._viewed[name] += 1
        return view

    def __delitem__(self, name: str) -> None:
        # Assignment never replaces another program's object, so deletion
        # never removes one either. A missing name raises ObjectNotFoundError
        # from the metadata lookup.
        if name not in self._registered:
            api.retrieve_metadata(self.namespace, name)
            raise ForeignObjectError(
                f"this Store did not register {name!r} in namespace {self.namespace!r}, so "
                f"del store[{name!r}] does not release it; call "
                f"release_variables({self.namespace!r}, {name!r}) to remove it",
                namespace=self.namespace,
                name=name,
            )
        api.release_variables(self.namespace, name)
        self._registered.discard(name)
        self._drop_views(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            api.retrieve_metadata(self.namespace, name)
        except (ObjectNotFoundError, ValueError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"Store({self.namespace!r}, persist={self.persist})"

    def keys(self) -> list[str]:
        """Return the names of the objects in the namespace, sorted."""
        return list(api.retrieve_metadata(self.namespace))

    def metadata(self, name: str) -> ObjectMetadata:
        """Return the metadata of object `name` without attaching it."""
        return api.retrieve_metadata(self.namespace, name)[name]

    def _drop_views(self, name: str) -> None:
        for _ in range(self._viewed.pop(name, 0)):
            api.release_views(self.namespace, name)

    def close(self) -> None:
        """Drop the views handed out and release the objects registered here.

        Objects of a ``persist=True`` Store stay. Calling it twice is harmless.
        """
        for name in list(self._viewed):
            self._drop_views(name)
        if not self.persist:
            for name in sorted(self._registered):
                try:
                    api.release_variables(self.namespace, name)
                except ObjectNotFoundError:
                    # Released by someone else already: nothing left to do.
                    logger.debug("%s/%s was already released", self.namespace, name)
        self._registered.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
