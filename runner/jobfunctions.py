"""The functions of job steps: importing them and binding them for the workers.

``function: MODULE:ATTRIBUTE`` imports a module, with the job file's folder
first on ``sys.path``, so ``funcs:corr_with`` finds ``funcs.py`` next to the
job file. A module in that folder named like a standard-library module is
rejected, because it would replace that module. ``function: FILE.py:ATTRIBUTE``
loads a file by path, relative to that folder. Modules from the job's folder
and files loaded by path are pickled by value (cloudpickle), because worker
processes start from a fresh interpreter that does not have the job's folder
on its path.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import cloudpickle

import memshare.store as store
from memshare.runner.jobfile import JobDocument, Key, describe
from memshare.store.layout import ROOT_VARIABLE

__all__ = [
    "StepFunction", "add_job_folder", "release_fetched_views", "resolve_function",
    "stdlib_shadows",
]

logger = logging.getLogger(__name__)


class StepFunction:
    """The function of a step, bound to its constants, as sent to the workers.

    Called as ``fn(element, *args, **vars, **kwargs)``. Variables the pool
    passes by object name are renamed to their keyword argument. Variables
    the pool cannot pass (objects of another namespace) are listed in
    ``fetch`` as ``(namespace, name)`` and attached from the store ``root``
    in the calling process on first use.
    """

    def __init__(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
                 rename: dict[str, str], fetch: dict[str, tuple[str, str]], folder: str,
                 root: str) -> None:
        self.fn = fn
        self.args = tuple(args)
        self.kwargs = kwargs
        self.rename = rename
        self.fetch = fetch
        self.folder = folder
        self.root = root

    def __call__(self, element: Any, **received: Any) -> Any:
        # Workers start from a fresh interpreter, so the rule that the job's
        # folder is importable is applied again where the function runs.
        if self.folder not in sys.path:
            add_job_folder(self.folder)
        named = {self.rename.get(key, key): value for key, value in received.items()}
        for argument, (namespace, name) in self.fetch.items():
            named[argument] = _fetched_view(self.root, namespace, name)
        return self.fn(element, *self.args, **named, **self.kwargs)


# Views of objects from other namespaces, per process and keyed by (root,
# namespace, name). Each holds one reference: release_fetched_views drops it
# in the parent, and in a worker the store drops it when the worker exits at
# the end of the job.
_fetched: dict[tuple[str, str, str], Any] = {}
_fetched_lock = threading.Lock()


@contextlib.contextmanager
def _store_root(root: str) -> Iterator[None]:
    # The store reads MEMSHARE_ROOT at every call, and a worker's environment
    # is that of the pool's first job, which may have used another root.
    previous = os.environ.get(ROOT_VARIABLE)
    os.environ[ROOT_VARIABLE] = root
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ROOT_VARIABLE, None)
        else:
            os.environ[ROOT_VARIABLE] = previous


def _fetched_view(root: str, namespace: str, name: str) -> Any:
    with _fetched_lock:
        if (root, namespace, name) not in _fetched:
            with _store_root(root):
                _fetched[(root, namespace, name)] = store.retrieve_views(namespace, name)[name]
        return _fetched[(root, namespace, name)]


def release_fetched_views() -> None:
    """Drop the views :class:`StepFunction` attached in this process."""
    with _fetched_lock:
        for root, namespace, name in list(_fetched):
            del _fetched[(root, namespace, name)]
            try:
                with _store_root(root):
                    store.release_views(namespace, name)
            except store.MemshareError as error:
                logger.warning("could not release the view of %s/%s: %s", namespace, name, error)


def resolve_function(doc: JobDocument, key: Key, text: str) -> Callable[..., Any]:
    """Import ``MODULE:ATTRIBUTE`` or ``FILE.py:ATTRIBUTE`` and check that it is callable.

    A module in the job's folder, or a file given by path, is pickled by value
    for the workers, which do not have the job's folder on their path.
    """
    target, _, attribute = text.rpartition(":")
    fix = f"write MODULE:ATTRIBUTE, e.g. funcs:corr_with, where funcs.py is in {doc.folder}"
    if not target or not attribute:
        raise doc.error(key, f"expected MODULE:ATTRIBUTE, got {text!r}", fix, value=text)

    # The job's folder goes first on sys.path here and in the workers, so a
    # file such as json.py in it would replace the standard module for every
    # later import, including memshare's own imports in a fresh worker.
    shadows = stdlib_shadows(str(doc.folder))
    if shadows:
        raise doc.error(key, f"the job's folder {doc.folder} contains {', '.join(shadows)}, "
                        "named like a standard-library module, and the workers would import "
                        "it in place of that module", "rename it, e.g. to job_"
                        f"{shadows[0]}, and update any `function:` entry that names it",
                        value=text)

    try:
        if target.endswith(".py") or "/" in target:
            module = _load_file(doc, key, target, text)
        else:
            module = _import_module(doc, key, target, text)
    except store.MemshareError:
        raise
    except Exception as exc:
        raise doc.error(key, f"importing {target!r} failed: {type(exc).__name__}: {exc}",
                        "fix the module so that it imports (run with --debug for the "
                        "traceback)", value=text) from exc

    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [n for n in dir(value) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"define {part} in {target}"
            raise doc.error(key, f"{target!r} has no attribute {attribute!r}", hint, value=text)
        value = getattr(value, part)
    if not callable(value):
        raise doc.error(key, f"{text!r} is not callable: it is {describe(value)}",
                        "name a function or another callable", value=text)
    return value


def add_job_folder(folder: str) -> None:
    """Put ``folder`` first on ``sys.path``, so its modules win over others of the same name."""
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)


def stdlib_shadows(folder: str) -> list[str]:
    """List the modules and packages in ``folder`` named like a standard-library module."""
    found = []
    for entry in sorted(os.listdir(folder)):
        path = os.path.join(folder, entry)
        stem, extension = os.path.splitext(entry)
        is_module = extension == ".py" and os.path.isfile(path)
        is_package = not extension and os.path.isfile(os.path.join(path, "__init__.py"))
        if (is_module or is_package) and (stem if is_module else entry) in (
            sys.stdlib_module_names
        ):
            found.append(entry)
    return found


def _import_module(doc: JobDocument, key: Key, name: str, text: str) -> ModuleType:
    folder = str(doc.folder)
    top = name.partition(".")[0]
    importlib.invalidate_caches()
    local = importlib.machinery.PathFinder.find_spec(top, [folder])
    add_job_folder(folder)
    if local is not None:
        # A module of the same name imported earlier from elsewhere (another
        # job's folder) would shadow this job's own file.
        loaded = sys.modules.get(top)
        # NOTE: this also unloads that other module for the rest of this process.
        if loaded is not None and getattr(loaded, "__file__", None) != local.origin:
            for stale in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[stale]

    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not name.startswith(exc.name):
            raise
        raise doc.error(key, f"module {name!r} was not found", f"put {name}.py in the job's "
                        f"folder ({folder}) or install the package", value=text) from None
    if local is not None:
        cloudpickle.register_pickle_by_value(sys.modules[top])
    return module


def _load_file(doc: JobDocument, key: Key, target: str, text: str) -> ModuleType:
    path = (doc.folder / target).resolve()
    if not path.is_file():
        raise doc.error(key, f"function file {str(path)!r} was not found",
                        "paths resolve against the job file's folder", value=text)
    # A private module name, so the file cannot shadow an installed module.
    name = f"memshare_job_{abs(hash(str(path))):x}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise doc.error(key, f"{str(path)!r} cannot be imported", "name a .py file",
                        value=text)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)
    return module


