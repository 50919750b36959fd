"""The store root on disk: where it is, what its folders and files are named,
and the checks that make it safe to use.

Layout (every folder 0700, every file 0600, all owned by the current user)::

    <root>/                             $MEMSHARE_ROOT or /dev/shm/memshare-<uid>
        <namespace>/
            <name>.json                 metadata; its presence means "published"
            <name>.<object id>.arrow    data, never modified after publishing
            <name>.lock                 lock guarding the metadata
            .<name>.<pid>-<ms>-<random>.tmp
                                        a file being written by process <pid>

The data file name carries the object id. Replacing an object writes a new
data file and then switches the metadata to it in one rename. A crash
between the two steps leaves an unreferenced data file, which ``gc``
removes, and never metadata that describes the wrong data.

Nothing here follows a symbolic link: folders are checked with ``lstat`` and
files are opened with ``O_NOFOLLOW``, so a link planted in the root raises
:class:`StoreRootError` instead of redirecting a write or a delete.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import stat
import sys
from typing import Final, NamedTuple

from memshare.store.errors import StoreRootError, UnsupportedPlatformError
from memshare.store.names import validate_name
from memshare.store.process import ProcessId

__all__ = [
    "ROOT_VARIABLE",
    "TempName",
    "check_file",
    "check_namespace",
    "data_path",
    "default_root",
    "ensure_namespace",
    "ensure_root",
    "list_namespaces",
    "list_object_names",
    "lock_path",
    "metadata_path",
    "namespace_path",
    "open_new_file",
    "parse_temp_name",
    "list_data_files",
    "remove_file",
    "remove_namespace_if_empty",
    "store_root",
    "temp_path",
]

logger = logging.getLogger(__name__)

ROOT_VARIABLE: Final = "MEMSHARE_ROOT"
SHM_FOLDER: Final = "/dev/shm"

DATA_SUFFIX: Final = ".arrow"
METADATA_SUFFIX: Final = ".json"
LOCK_SUFFIX: Final = ".lock"
TEMP_SUFFIX: Final = ".tmp"

# Object ids are uuid4 hex strings; a data file name must end in one, so a
# foreign "model.v2.arrow" is never taken for object data.
OBJECT_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")

# Group and other permission bits: any of them set on a folder or file of the
# store would let another user read or replace shared data.
_SHARED_BITS: Final = stat.S_IRWXG | stat.S_IRWXO

_HINT: Final = f"set {ROOT_VARIABLE} to a folder on a tmpfs that only you can access"


def default_root() -> str:
    """Return the root used when ``MEMSHARE_ROOT`` is not set.

    Raises
    ------
    UnsupportedPlatformError
        If this is not Linux or there is no /dev/shm folder.
    """
    if not sys.platform.startswith("linux") or not os.path.isdir(SHM_FOLDER):
        raise UnsupportedPlatformError(
            f"memshare needs a shared-memory file system and {SHM_FOLDER} is missing on "
            f"this platform ({sys.platform}); set {ROOT_VARIABLE} to a folder on a tmpfs "
            "(a RAM-backed file system) to use the store here",
            platform=sys.platform,
        )
    return os.path.join(SHM_FOLDER, f"memshare-{os.getuid()}")


def store_root() -> str:
    """Return the absolute path of the store root, reading ``MEMSHARE_ROOT`` now.

    The variable is read at every call, so a test or a ``--root`` option can
    change it at run time. The folder is neither created nor checked here.
    """
    configured = os.environ.get(ROOT_VARIABLE)
    if configured:
        return os.path.abspath(configured)
    return default_root()


def _folder_fix(path: str, kind: str, action: str) -> str:
    # A bad store root is fixed by choosing another root. A bad namespace
    # folder is fixed in place, because another root would hide every
    # other namespace too.
    if kind == "store root":
        return f"{action} or {_HINT}"
    return action


def _check_folder(path: str, st: os.stat_result, kind: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise StoreRootError(
            f"{kind} {path} is a symbolic link, and memshare never follows links in its "
            f"store; {_folder_fix(path, kind, f'remove the link with rm {path}')}",
            path=path,
        )
    if not stat.S_ISDIR(st.st_mode):
        raise StoreRootError(
            f"{kind} {path} is not a folder; {_folder_fix(path, kind, 'remove it')}",
            path=path,
        )
    if st.st_uid != os.getuid():
        raise StoreRootError(
            f"{kind} {path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}); "
            f"{_folder_fix(path, kind, 'ask its owner to remove it')}",
            path=path,
        )
    if st.st_mode & _SHARED_BITS:
        raise StoreRootError(
            f"{kind} {path} has mode {stat.S_IMODE(st.st_mode):#o}, which lets other "
            f"users in; {_folder_fix(path, kind, f'run chmod 700 {path} or remove the folder')}",
            path=path,
        )


def ensure_root(*, create: bool = True) -> str:
    """Create the store root if needed, check it, and return its path.

    With ``create=False`` a missing root is left missing and its path is
    returned: calls that only read or release find nothing there, and a
    late call from an exiting process does not recreate a removed root.

    Raises
    ------
    StoreRootError
        If the root is a symbolic link, not a folder, owned by another user,
        open to group or others, unwritable, or its parent folder is missing.
    UnsupportedPlatformError
        If ``MEMSHARE_ROOT`` is unset and the platform has no /dev/shm.
    """
    root = store_root()
    if not create and not os.path.lexists(root):
        return root
    try:
        os.mkdir(root, 0o700)
        logger.debug("created store root %s (pid %d)", root, os.getpid())
    except FileExistsError:
        pass
    except FileNotFoundError:
        raise StoreRootError(
            f"cannot create the store root {root}: its parent folder does not exist; "
            f"create it or set {ROOT_VARIABLE} to another folder",
            path=root,
        ) from None
    except OSError as error:
        raise StoreRootError(
            f"cannot create the store root {root}: {error.strerror}; "
            f"set {ROOT_VARIABLE} to a writable folder on a tmpfs",
            path=root,
        ) from error

    _check_folder(root, os.lstat(root), "store root")
    if not os.access(root, os.W_OK | os.X_OK):
        raise StoreRootError(
            f"the store root {root} is not writable; fix its permissions or "
            f"set {ROOT_VARIABLE} to a writable folder on a tmpfs",
            path=root,
        )
    return root


def namespace_path(root: str, namespace: str) -> str:
    """Return the folder of `namespace` under `root` (validating the name)."""
    return os.path.join(root, validate_name(namespace, "namespace"))


def ensure_namespace(root: str, namespace: str) -> str:
    """Create the folder of `namespace` if needed, check it and return its path."""
    path = namespace_path(root, namespace)
    while True:
        try:
            os.mkdir(path, 0o700)
            logger.debug("created namespace %r at %s (pid %d)", namespace, path, os.getpid())
        except FileExistsError:
            pass
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            # The last object of the namespace was released between mkdir
            # and lstat, which removed the empty folder: create it again.
            continue
        _check_folder(path, st, "namespace folder")
        return path


def check_namespace(root: str, namespace: str) -> str | None:
    """Return the checked folder of `namespace`, or None if it does not exist."""
    path = namespace_path(root, namespace)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    _check_folder(path, st, "namespace folder")
    return path


def remove_namespace_if_empty(folder: str) -> bool:
    """Remove the namespace `folder` if it is empty; return whether it was removed.

    ``rmdir`` removes only an empty folder, atomically, so a concurrent
    registration that created its lock file first keeps the folder. One that
    finds the folder gone before creating its lock file recreates the folder
    and retries (see :func:`memshare.store.lifecycle.publish`). The store
    root itself is kept.
    """
    try:
        os.rmdir(folder)
    except FileNotFoundError:
        return False  # another release or gc removed it first
    except OSError as error:
        # ENOTEMPTY or EEXIST: something arrived or remains. ENOTDIR: a link
        # was planted in its place, and rmdir never follows it.
        logger.debug("kept namespace folder %s: %s (pid %d)", folder, error.strerror, os.getpid())
        return False
    logger.debug("removed empty namespace folder %s (pid %d)", folder, os.getpid())
    return True


def list_namespaces(root: str) -> list[str]:
    """Return the names of the namespace folders under `root`, sorted.

    Plain files and entries whose names break the naming rule are not the
    store's and are skipped. Symbolic links are listed, so that opening them
    raises :class:`StoreRootError` instead of hiding a planted link.
    """
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    names = []
    for entry in entries:
        if not _is_valid_name(entry):
            continue
        try:
            mode = os.lstat(os.path.join(root, entry)).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
            names.append(entry)
    return sorted(names)


def list_object_names(folder: str | None) -> list[str]:
    """Return the names of the objects with a metadata file in `folder`, sorted."""
    if folder is None:
        return []
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    names = [entry[: -len(METADATA_SUFFIX)] for entry in entries if entry.endswith(METADATA_SUFFIX)]
    return sorted(name for name in names if _is_valid_name(name))


def list_data_files(folder: str, name: str) -> list[str]:
    """Return the paths of every data file of object `name` in `folder`, sorted.

    A data file is ``<name>.<object id>.arrow``. A replaced object may have
    more than one while a writer was killed between its steps.
    """
    prefix = validate_name(name, "object name") + "."
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    paths = []
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(DATA_SUFFIX)):
            continue
        object_id = entry[len(prefix) : -len(DATA_SUFFIX)]
        if OBJECT_ID_PATTERN.fullmatch(object_id) is not None:
            paths.append(os.path.join(folder, entry))
    return sorted(paths)


def _is_valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except ValueError:
        return False
    return True


def metadata_path(folder: str, name: str) -> str:
    """Return the metadata file of object `name` in the namespace `folder`."""
    return os.path.join(folder, validate_name(name, "object name") + METADATA_SUFFIX)


def lock_path(folder: str, name: str) -> str:
    """Return the lock file of object `name` in the namespace `folder`."""
    return os.path.join(folder, validate_name(name, "object name") + LOCK_SUFFIX)


def data_path(folder: str, name: str, object_id: str) -> str:
    """Return the data file of registration `object_id` of object `name`."""
    return os.path.join(folder, f"{validate_name(name, 'object name')}.{object_id}{DATA_SUFFIX}")


def temp_path(folder: str, name: str, writer: ProcessId) -> str:
    """Return a fresh temporary file name for `writer` writing object `name`.

    The name carries the writer's pid and start time, so ``gc`` can tell a
    file of a dead writer from one still being written.
    """
    token = secrets.token_hex(6)
    return os.path.join(folder, f".{name}.{writer.token()}-{token}{TEMP_SUFFIX}")


class TempName(NamedTuple):
    """The parts of a temporary file name made by :func:`temp_path`."""

    name: str
    pid: int
    start: int


def parse_temp_name(entry: str) -> TempName | None:
    """Split a temporary file name made by :func:`temp_path`, or return None."""
    if not (entry.startswith(".") and entry.endswith(TEMP_SUFFIX)):
        return None
    name, _, token = entry[1 : -len(TEMP_SUFFIX)].rpartition(".")
    parts = token.split("-")
    if not name or len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return TempName(name, int(parts[0]), int(parts[1]))


def open_new_file(path: str) -> int:
    """Create `path` exclusively with mode 0600, never through a link.

    Returns the open, writable file descriptor.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, 0o600)


def check_file(path: str) -> os.stat_result | None:
    """Check that `path` is a regular 0600 file of ours; None if it is missing.

    Raises
    ------
    StoreRootError
        If `path` is a link, not a regular file, owned by another user or
        readable by group or others.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    # `problem` leaves out the fix, so that a listing of damaged objects can
    # print its own fix line, which fits the object as a whole.
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        problem = (
            f"{path} is not a regular file (a symbolic link or something else was put "
            "in the store)"
        )
        raise StoreRootError(
            f"{problem}; remove it and register the object again",
            path=path,
            problem=problem,
        )
    if st.st_uid != os.getuid() or st.st_mode & _SHARED_BITS:
        # Removing only this file would orphan the object's other files, so
        # the fixes offered are restoring the mode or removing the object.
        problem = (
            f"{path} has owner uid {st.st_uid} and mode {stat.S_IMODE(st.st_mode):#o}, but "
            f"store files must belong to you (uid {os.getuid()}) with mode 0600"
        )
        raise StoreRootError(
            f"{problem}; run 'chmod 600 {path}' if you changed it yourself, or remove the "
            "object with 'memshare rm --force NAMESPACE/NAME'",
            path=path,
            problem=problem,
        )
    return st


def remove_file(path: str) -> bool:
    """Unlink `path` if present; return whether a file was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno == errno.EISDIR:
            raise StoreRootError(
                f"{path} is a folder where a file was expected; remove it", path=path
            ) from error
        raise
    return True
