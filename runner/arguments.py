"""Argument checks of apply/lapply calls and the objects one call registers.

Every check runs before anything is registered, so a bad argument leaves no
file behind.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd

import memshare.store as store
from memshare.runner.errors import FunctionNotPicklableError
from memshare.runner.tasks import CALL_PREFIX, ObjectRef, SliceKind
from memshare.runner.worker import ROOT_VARIABLE

__all__ = [
    "CallObjects",
    "check_apply_input",
    "check_chunksize",
    "check_fn",
    "check_lapply_input",
    "check_named_kind",
    "check_var_names",
    "check_vars",
    "default_namespace",
    "normalize_axis",
    "pickle_fn",
]

logger = logging.getLogger(__name__)


def default_namespace() -> str:
    """Name the namespace for objects a call registers when the caller names none."""
    return f"_memshare-run-{os.getpid()}"


class CallObjects:
    """Objects one call registered or viewed in this process, released by :meth:`release`."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.root = os.environ.get(ROOT_VARIABLE)
        self.token = uuid.uuid4().hex[:12]
        self.registered: list[str] = []
        self.registered_refs: list[ObjectRef] = []
        self.viewed: list[str] = []

    def register(self, suffix: str, value: Any, argument: str) -> ObjectRef:
        """Register ``value`` for the call; ``argument`` names it in errors (``"vars['y']"``)."""
        name = f"{CALL_PREFIX}{self.token}-{suffix}"
        try:
            store.register_variables(self.namespace, {name: value})
        except store.UnsupportedTypeError as error:
            raise _in_user_terms(error, f"{self.namespace}/{name}", argument) from None
        # Released in release(), after every worker dropped its views.
        self.registered.append(name)
        ref = self.ref(name)
        self.registered_refs.append(ref)
        return ref

    def view(self, name: str) -> Any:
        view = store.retrieve_views(self.namespace, name)[name]
        # This process's holder reference; dropped in release().
        self.viewed.append(name)
        return view

    def ref(self, name: str) -> ObjectRef:
        metadata = store.retrieve_metadata(self.namespace, name)[name]
        return ObjectRef(self.root, self.namespace, name, metadata.object_id)

    def release(self) -> None:
        if self.viewed:
            store.release_views(self.namespace, self.viewed)
        if self.registered:
            store.release_variables(self.namespace, self.registered)
            logger.debug(
                "pid %d released %s in namespace %s", os.getpid(), self.registered, self.namespace
            )


def _in_user_terms(
    error: store.UnsupportedTypeError, internal: str, argument: str
) -> store.UnsupportedTypeError:
    """Rewrite a store error about the call's private object in terms of ``argument``.

    The store names the object by ``internal`` (namespace/name) and the
    offending part by ``value`` or ``value[...]``; the caller knows neither,
    only the argument it passed.
    """
    detail = error.message
    _, marker, rest = detail.partition(f"{internal}: ")
    if marker:
        detail = rest
    if detail.startswith("value"):
        detail = argument + detail[len("value"):]
    fields = {key: val for key, val in vars(error).items() if key != "message"}
    fields["argument"] = argument
    return store.UnsupportedTypeError(f"cannot pass {argument} to the workers: {detail}", **fields)


def _check_name_target(value: Any, namespace: str | None, argument: str, function: str) -> None:
    """Reject an object name passed as ``argument`` without the namespace it lives in."""
    if isinstance(value, str) and namespace is None:
        raise ValueError(
            f"{argument}={value!r} is taken as the name of a registered object, so "
            f"{function} needs namespace= too: {function}({value!r}, fn, "
            f"namespace='<where {value} is registered>')"
        )


def check_apply_input(X: Any, namespace: str | None) -> None:
    """Check the type of ``X`` of a mem_apply call, or that a name comes with a namespace."""
    _check_name_target(X, namespace, "X", "mem_apply")
    if not isinstance(X, (str, np.ndarray, pd.DataFrame)):
        raise store.UnsupportedTypeError(
            f"mem_apply needs a numpy array, a pandas DataFrame or the name of one "
            f"registered in the namespace, got {type(X).__name__}; use mem_lapply for "
            "lists, and np.asarray() or pd.DataFrame() for other array-likes"
        )


def check_lapply_input(items: Any, namespace: str | None) -> None:
    """Check the type of ``items`` of a mem_lapply call, or that a name comes with a namespace."""
    _check_name_target(items, namespace, "items", "mem_lapply")
    if not isinstance(items, (str, list, tuple)):
        raise store.UnsupportedTypeError(
            f"mem_lapply needs a list or tuple, or the name of one registered in the "
            f"namespace, got {type(items).__name__}; convert it with list(...)"
        )


# Object kinds (ObjectMetadata.kind) each function slices, and the hint for others.
_NAMED_KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "mem_apply": (("ndarray", "dataframe"), "an array or a DataFrame, use mem_lapply for lists"),
    "mem_lapply": (("list", "tuple"), "a list or tuple, use mem_apply for arrays and DataFrames"),
}


def check_named_kind(namespace: str, name: str, function: str) -> None:
    """Check that the registered object ``name`` is of a kind ``function`` can slice."""
    kind = store.retrieve_metadata(namespace, name)[name].kind
    kinds, hint = _NAMED_KINDS[function]
    if kind not in kinds:
        raise store.UnsupportedTypeError(
            f"object {name!r} in namespace {namespace!r} is a {kind}; {function} needs {hint}"
        )


def check_var_names(variables: dict[str, Any] | list[str], namespace: str | None) -> None:
    """Reject ``vars`` given as names without the namespace they are registered in."""
    if isinstance(variables, list) and variables and namespace is None:
        raise ValueError(
            f"vars={variables!r} names registered objects, so pass namespace= too, the "
            "namespace they are registered in; or pass the values themselves as a "
            "mapping, e.g. vars={'y': y}"
        )


def check_fn(fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}: {fn!r}")


def pickle_fn(fn: Any) -> bytes:
    try:
        return cloudpickle.dumps(fn)
    except Exception as error:
        raise FunctionNotPicklableError(
            f"fn {fn!r} cannot be sent to worker processes: cloudpickle failed with "
            f"{type(error).__name__}: {error}; create locks, open files and connections "
            "inside fn instead of closing over them, or pass workers=1 to run in this process",
            fn=repr(fn),
        ) from error


def check_vars(vars: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any] | list[str]:
    """Return ``vars`` as a dict of values or a list of registered names."""
    if vars is None:
        return {}
    if isinstance(vars, Mapping):
        for key in vars:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(
                    f"vars keys become keyword arguments of fn, so each must be a Python "
                    f"identifier; got {key!r}"
                )
        return dict(vars)
    if isinstance(vars, (str, bytes)) or not isinstance(vars, Iterable):
        raise TypeError(
            f"vars must be a mapping of name -> value or a list of names registered in "
            f"the namespace, got {type(vars).__name__}: {vars!r}"
        )
    names = list(vars)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"vars names become keyword arguments of fn, so each must be a Python "
                f"identifier naming a registered object; got {name!r}"
            )
    return names


def normalize_axis(value: Any, axis: Any) -> tuple[SliceKind, int]:
    """Check ``axis`` for ``value`` and return the slice kind and the axis as an int."""
    if isinstance(value, pd.DataFrame):
        if axis in (0, "index"):
            return "frame_columns", 0
        if axis in (1, "columns"):
            return "frame_rows", 1
        raise ValueError(
            f"axis must be 0 or 'index' (fn gets each column) or 1 or 'columns' (fn gets "
            f"each row) for a DataFrame, got {axis!r}"
        )

    ndim = value.ndim
    if ndim == 0:
        raise ValueError("X is a 0-d array, which has no axis to slice along; pass an array")
    is_integer = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
    if not is_integer or not -ndim <= axis < ndim:
        raise ValueError(
            f"axis must be an int in [{-ndim}, {ndim - 1}] for an array of shape "
            f"{value.shape}, got {axis!r}; axis=0 passes each column of a matrix, axis=1 each row"
        )
    return "ndarray", int(axis) % ndim


def check_chunksize(chunksize: Any) -> None:
    if chunksize is None:
        return
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError(f"chunksize must be a positive int or None, got {chunksize!r}")
