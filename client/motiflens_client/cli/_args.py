"""Shared pieces of every command: exit codes, the one-line error, parser helpers, argument types."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from motiflens_client.errors import MotiflensClientError
from motiflens_client.sdk import Client

PROG = "motiflens"

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130

#: A command that talks to the stack: ``handler(args, client) -> exit code``.
ClientHandler = Callable[[argparse.Namespace, Client], int]
#: A command that needs no connection (``up``, ``report``): ``handler(args) -> exit code``.
LocalHandler = Callable[[argparse.Namespace], int]
#: What a command group's ``register`` adds its sub-commands to.
Commands = argparse._SubParsersAction

T = TypeVar("T")


class CliError(Exception):
    """An expected failure: one line for stderr and an exit code.

    Parameters
    ----------
    message : str
        What was wrong and what is accepted.
    exit_code : int, default 2
        One of the ``EXIT_*`` codes.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ServiceCallFailed(Exception):
    """A server refused a call made for another service than the command's own.

    ``predict --hdf5`` uploads the file to the trainer before the interpreter is
    called; the error line must name the trainer, not the interpreter.

    Parameters
    ----------
    error : MotiflensClientError
    service : {"trainer", "interpreter", "motifmatch"}
    """

    def __init__(self, error: MotiflensClientError, service: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.service = service


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (a :class:`CliError`) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


def _add_command(commands: Commands, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command_name=parser.prog[len(PROG) + 1 :])
    return parser


def command(
    commands: Commands, name: str, handler: ClientHandler, help_text: str, *, description: str = ""
) -> argparse.ArgumentParser:
    """Add a command that runs ``handler(args, client)`` with a connected :class:`Client`."""
    parser = _add_command(commands, name, help_text, description)
    parser.set_defaults(client_handler=handler, local_handler=None)
    return parser


def local_command(
    commands: Commands, name: str, handler: LocalHandler, help_text: str, *, description: str = ""
) -> argparse.ArgumentParser:
    """Add a command that runs ``handler(args)`` without connecting to the stack."""
    parser = _add_command(commands, name, help_text, description)
    parser.set_defaults(client_handler=None, local_handler=handler)
    return parser


def group(commands: Commands, name: str, help_text: str) -> Commands:
    """Add a command group (``motiflens NAME COMMAND ...``); returns its sub-commands."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


# --------------------------------------------------------------------------- argument types


def input_file(text: str) -> Path:
    """An existing file."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a file: {text}")
    return path


def output_file(text: str) -> Path:
    """A file to write, in an existing folder."""
    path = Path(text).expanduser()
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: folder {parent} does not exist")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder; give a file name")
    return path


def output_dir(text: str) -> Path:
    """A folder, existing or to be created."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    return path


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def param(text: str) -> tuple[str, float]:
    """``NAME=NUMBER``, e.g. ``scale=2.0``."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER (e.g. scale=2.0), got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=NUMBER (e.g. scale=2.0), got {text!r}: {value!r} is not a number"
        ) from None
    return name.strip(), number


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE``, e.g. ``lab=koo`` (the server checks the key and value)."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. lab=koo), got {text!r}")
    return key.strip(), value


def word_list(kind: Callable[[str], T]) -> Callable[[str], list[T]]:
    """A comma-separated list, each word parsed by ``kind``."""

    def parse(text: str) -> list[T]:
        words = [word.strip() for word in text.split(",") if word.strip()]
        if not words:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        try:
            return [kind(word) for word in words]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of integers, got {text!r}"
            ) from None

    return parse


def add_first_layer_l2(parser: argparse.ArgumentParser) -> None:
    """``--first-layer-l2`` of ``train`` and ``sweep start`` (None: the activation's default)."""
    parser.add_argument(
        "--first-layer-l2",
        type=non_negative_float,
        default=None,
        metavar="STRENGTH",
        help="L2 on the first-layer kernel (default: the activation's, 0.2 for log_relu, else 1e-6)",
    )
