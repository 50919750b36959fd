"""The ``memshare`` command: list, inspect, preview and remove stored objects.

Exit status: 0 on success, 1 when an object is missing or an operation fails,
2 for invalid usage (a bad option, a malformed or invalid name), 130 when
interrupted. Errors are one line on stderr, and ``--debug`` adds DEBUG logs
and the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from typing import Final

from memshare.store import codec, layout
from memshare.store.api import (
    release_variables,
    release_views,
    retrieve_metadata,
    retrieve_views,
    scan_objects,
    scan_store,
)
from memshare.store.cli_format import (
    damaged_record,
    format_damaged,
    format_gc_result,
    format_info,
    format_listing,
    format_skipped,
    info_record,
    listing_record,
)
from memshare.store.cli_parser import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    ROOT_VARIABLE,
    build_parser,
)
from memshare.store.collect import GcResult, gc
from memshare.store.errors import (
    InvalidNameError,
    MemshareError,
    ObjectInUseError,
    ObjectNotFoundError,
    StoreRootError,
)
from memshare.store.metadata import DamagedObject, Holder, ObjectMetadata, problem_of
from memshare.store.names import validate_name
from memshare.store.process import is_alive

__all__ = ["main"]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _existing_root() -> str | None:
    # The store API creates a missing root on first use. An inspection
    # command should not, because a mistyped --root would then leave a new
    # empty folder behind, so each command checks first.
    root = layout.store_root()
    if os.path.lexists(root):
        return root
    return None


def _require_root(namespace: str, name: str | None) -> None:
    root = _existing_root()
    if root is not None:
        return

    target = f"object {name!r} in namespace {namespace!r}" if name else f"namespace {namespace!r}"
    raise ObjectNotFoundError(
        f"no {target}: the store root {layout.store_root()} does not exist; "
        f"check --root or ${ROOT_VARIABLE}",
        namespace=namespace,
        name=name,
    )


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def _data_file_problem(meta: ObjectMetadata) -> str | None:
    """Compare the object's data file with the size its metadata records.

    A data file cut short or replaced by hand fails only when a view reads
    it, so the listing checks the size, which costs one ``lstat``.
    """
    folder = layout.namespace_path(layout.store_root(), meta.namespace)
    path = layout.data_path(folder, meta.name, meta.object_id)
    label = f"{meta.namespace}/{meta.name}"
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        size = None
    if size == meta.file_size:
        return None

    found = "is missing" if size is None else f"has {size} bytes"
    return (
        f"{label} is damaged: its data file {path} {found}, but its metadata records "
        f"{meta.file_size} bytes\n  remove its files with: memshare rm --force {label}"
    )


def _run_ls(args: argparse.Namespace) -> int:
    if args.namespace is not None:
        validate_name(args.namespace, "namespace")

    root = _existing_root()
    scan = scan_store(args.namespace) if root is not None else None
    objects = scan.objects if scan is not None else []
    damaged = scan.damaged if scan is not None else []
    skipped = scan.skipped if scan is not None else []
    problems = {(meta.namespace, meta.name): _data_file_problem(meta) for meta in objects}

    if args.json:
        records = []
        for meta in objects:
            record = listing_record(meta, is_alive)
            record["data_file_problem"] = problems[(meta.namespace, meta.name)]
            records.append(record)
        records += [damaged_record(item) for item in damaged]
        records.sort(key=lambda record: (record["namespace"], record["name"]))
        _print_json(records)
        for folder in skipped:
            print(
                f"{PROG}: warning: skipped namespace {folder.namespace!r}: {folder.reason}",
                file=sys.stderr,
            )
        return EXIT_OK

    if not objects and not damaged:
        where = f"namespace {args.namespace!r} of " if args.namespace is not None else ""
        print(f"No objects in {where}the store root {layout.store_root()}.")
    else:
        print(format_listing(objects, is_alive, damaged=damaged))

    notes = [format_damaged(damaged)] if damaged else []
    notes += [problem for problem in problems.values() if problem is not None]
    if skipped:
        notes.append(format_skipped(skipped))
    if notes:
        print()
        print("\n".join(notes))
    return EXIT_OK


def _run_info(args: argparse.Namespace) -> int:
    namespace, name = args.object
    _require_root(namespace, name)
    meta = retrieve_metadata(namespace, name)[name]

    if args.json:
        _print_json(info_record(meta, is_alive))
    else:
        print(format_info(meta, is_alive))
    return EXIT_OK


def _run_show(args: argparse.Namespace) -> int:
    namespace, name = args.object
    _require_root(namespace, name)

    # retrieve_views takes one holder reference for this process, and the
    # finally block drops it. If the process dies in between, its exit
    # handler or a later gc drops it.
    views = retrieve_views(namespace, name)
    try:
        text = codec.preview(views[name], args.rows)
    finally:
        del views
        release_views(namespace, name)

    print(text)
    return EXIT_OK


def _describe_holders(holders: Sequence[Holder]) -> str:
    parts = []
    for holder in sorted(holders, key=lambda item: item.pid):
        view_word = "view" if holder.count == 1 else "views"
        parts.append(f"pid {holder.pid} ({holder.count} {view_word})")
    return ", ".join(parts)


def _live_holders(meta: ObjectMetadata) -> list[Holder]:
    # Records of dead processes do not block removal, because those processes
    # map nothing any more and gc would drop the records anyway.
    return [
        holder
        for holder in meta.holders
        if is_alive(holder.pid, holder.start_time, holder.start_ticks)
    ]


def _in_use_error(
    namespace: str,
    name: str | None,
    held_objects: list[tuple[str, list[Holder]]],
    removed: Sequence[str] = (),
) -> ObjectInUseError:
    if name is not None:
        target = f"{namespace}/{name}"
        details = f"it is held by {_describe_holders(held_objects[0][1])}"
    else:
        target = f"namespace {namespace!r}"
        details = ", ".join(
            f"{namespace}/{object_name} is held by {_describe_holders(holders)}"
            for object_name, holders in held_objects
        )

    if removed:
        outcome = f"Already removed: {', '.join(removed)}."
    else:
        outcome = "Nothing was removed."
    return ObjectInUseError(
        f"cannot remove {target}: {details}. {outcome} Release those views or end those "
        "processes, or pass --force to remove it anyway (views already taken stay readable).",
        namespace=namespace,
        name=name,
        holders=tuple(holder for _, holders in held_objects for holder in holders),
    )


def _run_rm(args: argparse.Namespace) -> int:
    namespace, name = args.target
    validate_name(namespace, "namespace")
    _require_root(namespace, name)

    if name is None:
        objects, damaged = scan_objects(namespace)
        if not objects and not damaged:
            raise ObjectNotFoundError(
                f"namespace {namespace!r} has no objects; run 'memshare ls' to see the "
                "stored namespaces",
                namespace=namespace,
            )
    else:
        objects, damaged = _read_one(namespace, name)

    # The holders of a damaged object are unknown, so only --force removes it.
    if damaged and not args.force:
        details = "; ".join(f"{item.label}: {item.reason}" for item in damaged)
        raise StoreRootError(
            f"cannot tell whether these objects are held, because their metadata cannot "
            f"be read: {details}. Nothing was removed. Pass --force to remove their files "
            "(views already taken stay readable).",
            path=damaged[0].path,
        )

    # Checking every object before removing any keeps `rm NAMESPACE` all or
    # nothing. release_variables alone would remove the objects that come
    # before the first held one.
    held_objects = []
    for meta in objects:
        holders = _live_holders(meta)
        if holders:
            held_objects.append((meta.name, holders))
    if held_objects and not args.force:
        raise _in_use_error(namespace, name, held_objects)

    still_mapped = dict(held_objects)
    removed: list[str] = []
    for meta in objects:
        label = f"{namespace}/{meta.name}"
        logger.debug("removing %s (force=%s, pid %d)", label, args.force, os.getpid())
        try:
            release_variables(namespace, meta.name, require_unheld=not args.force)
        except ObjectInUseError as error:
            # A process took a view after the check above. The objects
            # removed before this one stay removed, and the message lists them.
            holders = list(getattr(error, "holders", ()))
            raise _in_use_error(namespace, name, [(meta.name, holders)], removed) from error
        removed.append(label)

        if meta.name in still_mapped:
            print(
                f"removed {label}, whose memory stays in use until these holders release "
                f"their views or exit: {_describe_holders(still_mapped[meta.name])}"
            )
        else:
            print(f"removed {label}")

    for item in damaged:
        logger.debug("removing damaged %s (pid %d)", item.label, os.getpid())
        # Without require_unheld, release_variables removes a damaged object's files.
        release_variables(namespace, item.name)
        print(f"removed damaged object {item.label}")
    return EXIT_OK


def _read_one(namespace: str, name: str) -> tuple[list[ObjectMetadata], list[DamagedObject]]:
    """Read one object's metadata; a damaged object comes back in the second list."""
    try:
        return [retrieve_metadata(namespace, name)[name]], []
    except StoreRootError as error:
        path = layout.metadata_path(layout.namespace_path(layout.store_root(), namespace), name)
        # Only an error about the metadata file itself marks the object as
        # damaged. An unsafe root or namespace folder still fails the command.
        if getattr(error, "path", None) != path:
            raise
        return [], [DamagedObject(namespace, name, path, problem_of(error))]


def _nothing_collected(namespace: str | None) -> str | None:
    """Say why a gc run that found nothing had nothing to look at, if so.

    None means the store has objects, which are all still in use or
    persistent.
    """
    root = layout.store_root()
    if _existing_root() is None:
        return f"Nothing to remove: the store root {root} does not exist."

    if namespace is not None:
        folder = layout.namespace_path(root, namespace)
        if not os.path.lexists(folder):
            return (
                f"Nothing to remove: there is no namespace {namespace!r} in the store root "
                f"{root}; run 'memshare ls' to see the stored namespaces."
            )

    scan = scan_store(namespace)
    if scan.objects or scan.damaged:
        return None
    where = f"namespace {namespace!r} in " if namespace is not None else ""
    return f"Nothing to remove: {where}the store root {root} has no objects."


def _run_gc(args: argparse.Namespace) -> int:
    if args.namespace is not None:
        validate_name(args.namespace, "namespace")

    # A store root that does not exist has nothing to collect.
    result = gc(args.namespace) if _existing_root() is not None else GcResult()

    if args.json:
        _print_json(asdict(result))
    else:
        print(format_gc_result(result, nothing=_nothing_collected(args.namespace)))
    return EXIT_OK


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "ls": _run_ls,
    "info": _run_info,
    "show": _run_show,
    "rm": _run_rm,
    "gc": _run_gc,
}


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _root_override(root: str | None) -> Iterator[None]:
    """Set ``MEMSHARE_ROOT`` for the duration of one command, then restore it.

    Restoring matters when ``main`` runs inside another program or a test,
    whose own store root must not change.
    """
    if root is None:
        yield
        return

    previous = os.environ.get(ROOT_VARIABLE)
    os.environ[ROOT_VARIABLE] = os.path.abspath(root)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[ROOT_VARIABLE]
        else:
            os.environ[ROOT_VARIABLE] = previous


@contextlib.contextmanager
def _debug_logging(enabled: bool) -> Iterator[None]:
    """Send memshare's DEBUG logs to stderr while one command runs."""
    if not enabled:
        yield
        return

    package_logger = logging.getLogger("memshare")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    previous_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(previous_level)


def _report(error: BaseException, args: argparse.Namespace, unexpected: bool = False) -> None:
    if args.debug:
        traceback.print_exception(error, file=sys.stderr)
    # Store messages may span lines, but the command prints one line per error.
    message = " ".join(str(error).split())
    if unexpected:
        # Not one of memshare's own errors: the exception type leads the
        # message, because a bug report needs it.
        message = f"{type(error).__name__}: {message}"
        if not args.debug:
            message += "; run the command again with --debug to see the traceback"
    if args.root is not None and ROOT_VARIABLE in message:
        # The root of this run came from --root, which overrides the variable.
        message += f" (this run used --root {args.root}; pass another --root instead)"
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memshare`` command and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        0 on success, 1 if an object is missing or the command failed, 2 for
        invalid usage, 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits after --help (status 0) and after a usage error
        # (status 2, with the message already printed). main returns the
        # status instead, so callers in the same process keep running.
        if exit_request.code is None:
            return EXIT_OK
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE

    with _debug_logging(args.debug):
        logger.debug(
            "running %s %s in store root %s (pid %d)",
            PROG,
            args.command,
            args.root or os.environ.get(ROOT_VARIABLE) or "(default)",
            os.getpid(),
        )
        try:
            with _root_override(args.root):
                return _COMMANDS[args.command](args)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader of stdout (such as `head`) exited. Pointing stdout at
            # /dev/null keeps the interpreter's final flush from failing again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILURE
        except InvalidNameError as error:
            _report(error, args)
            return EXIT_USAGE
        except (MemshareError, OSError) as error:
            _report(error, args)
            return EXIT_FAILURE
        except Exception as error:
            # The last resort: an error the store did not expect, such as a
            # data file damaged by hand, still ends in one line and status 1.
            logger.debug(
                "unexpected error in %s %s (pid %d): %r", PROG, args.command, os.getpid(), error
            )
            _report(error, args, unexpected=True)
            return EXIT_FAILURE
