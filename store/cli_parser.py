"""The ``memshare`` command's argument parser, exit statuses and argument types."""

from __future__ import annotations

import argparse
from typing import Final

from memshare.store import layout

__all__ = [
    "DEFAULT_PREVIEW_ROWS",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "ROOT_VARIABLE",
    "build_parser",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
# 128 + SIGINT, the status a shell reports for a command stopped by Ctrl-C.
EXIT_INTERRUPTED: Final = 130

PROG: Final = "memshare"
ROOT_VARIABLE: Final = layout.ROOT_VARIABLE
DEFAULT_PREVIEW_ROWS: Final = 10


def _object_reference(text: str) -> tuple[str, str]:
    """Split ``NAMESPACE/NAME``. argparse reports an ArgumentTypeError as a usage error."""
    namespace, separator, name = text.partition("/")
    if not separator or not namespace or not name:
        raise argparse.ArgumentTypeError(
            f"expected NAMESPACE/NAME, got {text!r}; run 'memshare ls' to see stored objects"
        )
    return namespace, name


def _namespace_or_object(text: str) -> tuple[str, str | None]:
    """Split ``NAMESPACE`` or ``NAMESPACE/NAME``. The name is None for a whole namespace."""
    if "/" not in text:
        if not text:
            raise argparse.ArgumentTypeError("expected NAMESPACE or NAMESPACE/NAME, got ''")
        return text, None
    return _object_reference(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_common_options(parser: argparse.ArgumentParser, default: object) -> None:
    # The main parser and every subcommand accept these options, so both
    # `memshare --root X ls` and `memshare ls --root X` work. Subcommands use
    # SUPPRESS as default, because a plain default would overwrite the value
    # that the main parser already stored.
    parser.add_argument(
        "--root",
        metavar="PATH",
        default=default,
        help=(
            f"store root folder for this run (default: ${ROOT_VARIABLE} if set, "
            "else /dev/shm/memshare-<uid>)"
        ),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="log DEBUG messages to stderr and print the traceback of an error",
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``memshare`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and clean up the memshare shared-memory object store.",
        epilog=(
            "exit status: 0 on success, 1 if an object is missing or the command "
            "fails, 2 for invalid usage"
        ),
    )
    _add_common_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ls_parser = commands.add_parser(
        "ls",
        help="list stored objects",
        description="List the objects of one namespace, or of all namespaces, as a table.",
    )
    ls_parser.add_argument(
        "namespace",
        nargs="?",
        metavar="NAMESPACE",
        help="list only this namespace (default: all namespaces)",
    )
    ls_parser.add_argument(
        "--json", action="store_true", help="print a JSON list of objects instead of a table"
    )
    _add_common_options(ls_parser, default=argparse.SUPPRESS)

    info_parser = commands.add_parser(
        "info",
        help="show the full metadata of one object",
        description="Show the full metadata of one object, including the pids holding views.",
    )
    info_parser.add_argument(
        "object", type=_object_reference, metavar="NAMESPACE/NAME", help="the object to describe"
    )
    info_parser.add_argument(
        "--json", action="store_true", help="print the metadata as a JSON object"
    )
    _add_common_options(info_parser, default=argparse.SUPPRESS)

    show_parser = commands.add_parser(
        "show",
        help="preview the values of one object",
        description=(
            "Print the first rows of a DataFrame, the top-left corner of a matrix or "
            "the first elements of a list. The command holds a view only while printing."
        ),
    )
    show_parser.add_argument(
        "object", type=_object_reference, metavar="NAMESPACE/NAME", help="the object to preview"
    )
    show_parser.add_argument(
        "--rows",
        type=_positive_int,
        default=DEFAULT_PREVIEW_ROWS,
        metavar="N",
        help=(
            "number of rows and of matrix columns, or of list elements, to print "
            f"(default: {DEFAULT_PREVIEW_ROWS})"
        ),
    )
    _add_common_options(show_parser, default=argparse.SUPPRESS)

    rm_parser = commands.add_parser(
        "rm",
        help="release one object or a whole namespace",
        description=(
            "Release an object, or every object of a namespace. Without --force the "
            "command fails while any live process holds a view. Memory is freed once "
            "no process maps the object."
        ),
    )
    rm_parser.add_argument(
        "target",
        type=_namespace_or_object,
        metavar="NAMESPACE[/NAME]",
        help="the object, or the namespace whose objects are all released",
    )
    rm_parser.add_argument(
        "--force",
        action="store_true",
        help="release even while other processes hold views, which stay readable",
    )
    _add_common_options(rm_parser, default=argparse.SUPPRESS)

    gc_parser = commands.add_parser(
        "gc",
        help="remove what dead processes left behind",
        description=(
            "Drop the holder entries of dead processes, remove non-persistent objects "
            "whose owner is dead and that no live process holds, and remove stale "
            "temporary files."
        ),
    )
    gc_parser.add_argument(
        "namespace",
        nargs="?",
        metavar="NAMESPACE",
        help="collect only this namespace (default: all namespaces)",
    )
    gc_parser.add_argument(
        "--json", action="store_true", help="print what was removed as a JSON object"
    )
    _add_common_options(gc_parser, default=argparse.SUPPRESS)

    return parser
