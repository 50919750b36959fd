"""The per-object lock that serializes every change of an object's metadata.

The lock is an exclusive ``flock`` on ``<name>.lock``. ``flock`` locks belong
to an open file description, so two threads of one process that each open the
file exclude each other just as two processes do, and the kernel drops the
lock when its holder dies, even by SIGKILL.

Lock files are deleted together with their object (while locked). That opens
a race: a process blocked on the old file gets the lock after the file was
unlinked and a newer process may already lock a new file of the same name.
So after acquiring, the holder compares the inode it locked with the inode
now at the path, and starts over when they differ.
"""

from __future__ import annotations

import fcntl
import logging
import os
from types import TracebackType

from memshare.store.errors import ObjectNotFoundError, StoreRootError

__all__ = ["ObjectLock"]

logger = logging.getLogger(__name__)


class ObjectLock:
    """Exclusive lock on one object, used as a context manager.

    Parameters
    ----------
    path : str
        The object's lock file.
    create : bool
        Create the lock file if it is missing (registration and ``gc``).
        Otherwise a missing file means the object does not exist and
        :class:`ObjectNotFoundError` is raised.
    label : str
        ``"namespace/name"`` for messages.
    """

    def __init__(self, path: str, *, create: bool, label: str) -> None:
        self.path = path
        self.create = create
        self.label = label
        self._fd: int | None = None

    def acquire(self) -> None:
        """Block until this process holds the lock on the current lock file."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        if self.create:
            flags |= os.O_CREAT
        while True:
            try:
                fd = os.open(self.path, flags, 0o600)
            except FileNotFoundError:
                if self.create:
                    # The namespace folder itself is gone (``gc`` removes
                    # empty ones); the caller recreates it and retries.
                    raise
                raise ObjectNotFoundError(
                    f"object {self.label!r} does not exist (never registered, or released)",
                    path=self.path,
                ) from None
            except OSError as error:
                # ELOOP: O_NOFOLLOW met a symbolic link planted at the path.
                raise StoreRootError(
                    f"cannot open the lock file {self.path}: {error.strerror}; if it is a "
                    "symbolic link or not a regular file, remove it",
                    path=self.path,
                ) from error

            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                locked = os.fstat(fd)
                try:
                    current = os.lstat(self.path)
                except FileNotFoundError:
                    current = None
            except BaseException:
                os.close(fd)
                raise

            if current is not None and (current.st_ino, current.st_dev) == (
                locked.st_ino,
                locked.st_dev,
            ):
                self._fd = fd
                return

            # The file was deleted (and maybe recreated) while this process
            # waited: the lock it got protects nothing, so try again.
            os.close(fd)
            logger.debug("lock file %s was replaced while waiting; retrying", self.path)

    def release(self) -> None:
        """Release the lock (closing the descriptor drops the ``flock``)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ObjectLock:
        # A lock acquired explicitly before the with statement is kept.
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
