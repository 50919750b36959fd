"""Writing an object's data file: free-space check, temporary file, rename.

A data file is written under a temporary name made by
:func:`memshare.store.layout.temp_path` and renamed to its final name only
when complete, so no reader ever maps a partial file. Any failure, Ctrl-C
included, removes the temporary file before the error propagates.
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any, Final

from memshare.store import codec, layout
from memshare.store.errors import StoreFullError
from memshare.store.process import ProcessId

if TYPE_CHECKING:
    from memshare.store.lifecycle import ObjectFiles

__all__ = ["FULL_HINT", "check_free_space", "is_full", "write_data"]

logger = logging.getLogger(__name__)

# Errors of a write that ran out of room: tmpfs full, a file size limit
# (RLIMIT_FSIZE), or a disk quota.
_FULL_ERRNOS: Final = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})

FULL_HINT: Final = (
    "free space by releasing objects (memshare gc, release_variables), set "
    f"{layout.ROOT_VARIABLE} to a folder on a larger tmpfs, or in a container start it "
    "with a larger --shm-size"
)


def is_full(error: BaseException) -> bool:
    """Tell whether `error` is a write failing for lack of space or size limit."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    # pyarrow reports a failed write as an OSError whose errno may be unset,
    # with the C library's message in the text.
    text = str(error)
    return isinstance(error, OSError) and (
        "No space left on device" in text or "File too large" in text or "Disk quota" in text
    )


def _with_gib(nbytes: int) -> str:
    # Binary GiB, the unit `df -h` uses for the size of /dev/shm.
    return f"{nbytes} bytes ({nbytes / 2**30:.2f} GiB)"


def check_free_space(folder: str, needed: int, description: str) -> None:
    """Raise :class:`StoreFullError` if `folder` has less than `needed` bytes free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    if needed > free:
        raise StoreFullError(
            f"not enough space to register {description}: it needs up to {_with_gib(needed)} "
            f"and {folder} has {_with_gib(free)} free; {FULL_HINT}",
            needed=needed,
            free=free,
            path=folder,
        )


def write_data(
    files: ObjectFiles, encoded: codec.Encoded, me: ProcessId
) -> tuple[str, dict[str, Any], int]:
    """Write `encoded` as a new data file of `files`; return id, layout and size.

    Call under the object's lock. The file is published under its final
    name only when complete.

    Raises
    ------
    StoreFullError
        If the write fails for lack of space or a file size limit.
    """
    # Written under a temporary name and renamed, so no reader ever sees a
    # partial file; any failure, Ctrl-C included, removes the temporary file.
    object_id = uuid.uuid4().hex
    temp = layout.temp_path(files.folder, files.name, me)
    os.close(layout.open_new_file(temp))
    logger.debug("writing %s to %s (pid %d)", files.label, temp, me.pid)
    try:
        codec_layout = encoded.write(temp)
        file_size = os.lstat(temp).st_size
        os.rename(temp, files.data(object_id))
    except BaseException as error:
        layout.remove_file(temp)
        logger.debug(
            "removed partial file %s of %s after %r (pid %d)", temp, files.label, error, me.pid
        )
        if is_full(error):
            raise StoreFullError(
                f"writing {files.label} failed: {error}; {FULL_HINT}",
                needed=encoded.size_bound,
                path=files.folder,
            ) from error
        raise
    return object_id, codec_layout, file_size
