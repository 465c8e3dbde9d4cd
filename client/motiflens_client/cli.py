"""The ``motiflens`` command: the SDK from a shell.

``motiflens [global options] COMMAND ...`` talks to a running stack (``motiflens up``
or ``make up``): the trainer at ``--address`` and the interpreter and motifmatch at
the next two ports unless given. Every command has ``--help``. Results go to stdout
(tables, ids, TSV, MEME, or JSON with ``--json``); files go where ``--out``,
``--meme`` and ``--logos`` say. A failure prints one line,
``motiflens: error: ...``, to stderr and exits with the code listed in the
top-level ``--help``.

Only grpcio, protobuf and numpy are imported; ``--hdf5`` inputs need h5py (imported
when used) and ``up`` needs the full motiflens installation (TensorFlow, services).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import grpc
import numpy as np

from motiflens_client import __version__
from motiflens_client.errors import JobFailed, MotiflensClientError, Unavailable, from_rpc_error
from motiflens_client.sdk import Client, Job
from motiflens_client.types import DatasetSplit
from motiflens_client.wire import vocabulary
from motiflens_client.wire.sequences import ACCEPTED_BASES

PROG = "motiflens"
DEFAULT_ADDRESS = "127.0.0.1:50051"
SPLITS = vocabulary.SPLIT_NAMES
METHODS = vocabulary.METHOD_NAMES
OUTPUTS = vocabulary.OUTPUT_NAMES
REFERENCES = vocabulary.REFERENCE_NAMES
_BASES = re.compile(r"[^ACGTNacgtn]")

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130

EPILOG = f"""\
exit codes:
  {EXIT_OK}    success
  {EXIT_JOB_FAILED}    a training job or sweep ended FAILED or CANCELLED (train, jobs watch, sweep wait)
  {EXIT_USAGE}    bad usage or a bad input file (the message names the option, file or line)
  {EXIT_SERVER}    the server refused the request (gRPC code and message shown:
       NOT_FOUND, INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED, ...)
  {EXIT_UNAVAILABLE}    a server is unreachable (UNAVAILABLE); start one with `motiflens up`
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)

environment:
  MOTIFLENS_ADDRESS  default of --address ({DEFAULT_ADDRESS})
  MOTIFLENS_TOKEN    default of --token

example:
  motiflens up &
  DS=$(motiflens dataset create --task 1 --num-sequences 5000)
  motiflens train $DS --architecture cnn_deep --activation exponential --epochs 10
  motiflens filters MODEL_ID --dataset $DS --meme filters.meme --logos logos/
  motiflens tomtom filters.meme --trim --out hits.tsv
"""


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


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (a :class:`CliError`) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``motiflens`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code (see :data:`EPILOG`): 0 success, 1 job FAILED/CANCELLED, 2 bad
        usage or input, 3 server-side error, 4 server unreachable, 130 interrupted.
    """
    parser = build_parser()
    command = ""
    # The SDK logs each UNAVAILABLE retry as a warning; without a handler Python would print
    # them to stderr. They show with --verbose only, so that a failure stays one line.
    sdk_logger = logging.getLogger("motiflens_client")
    handler: logging.Handler = logging.NullHandler()
    sdk_logger.addHandler(handler)
    level = sdk_logger.level
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, --version
            return stop.code if isinstance(stop.code, int) else EXIT_OK
        command = args.command_name
        if args.verbose:
            sdk_logger.removeHandler(handler)
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
            sdk_logger.addHandler(handler)
            sdk_logger.setLevel(logging.INFO)
        if not args.needs_client:
            return args.handler(args, None)
        with _client(args) as client:
            return args.handler(args, client)
    except CliError as error:
        _fail(str(error))
        return error.exit_code
    except JobFailed as error:
        _fail(_job_failed_message(error.job))
        return EXIT_JOB_FAILED
    except MotiflensClientError as error:
        return _server_error(error, command, args)
    except grpc.RpcError as error:  # the SDK wraps these; kept as a safety net
        return _server_error(from_rpc_error(error), command, args)
    except OSError as error:  # an input file that vanished or cannot be read after the checks
        _fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    finally:
        sdk_logger.removeHandler(handler)
        sdk_logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command tree (read at call time: env defaults)."""
    parser = _Parser(
        prog=PROG,
        description="Train, interpret and match genomic CNNs on a motiflens service stack.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connection = parser.add_argument_group("connection")
    connection.add_argument(
        "--address",
        default=os.environ.get("MOTIFLENS_ADDRESS") or DEFAULT_ADDRESS,
        metavar="HOST:PORT",
        help="trainer address (default $MOTIFLENS_ADDRESS or %(default)s)",
    )
    connection.add_argument(
        "--interpreter-address", metavar="HOST:PORT", help="default: the --address host, port + 1"
    )
    connection.add_argument(
        "--motifmatch-address", metavar="HOST:PORT", help="default: the --address host, port + 2"
    )
    connection.add_argument(
        "--token",
        default=os.environ.get("MOTIFLENS_TOKEN") or None,
        help="bearer token sent with every call (default $MOTIFLENS_TOKEN; none if unset)",
    )
    connection.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    connection.add_argument(
        "--ca-cert",
        type=_input_file,
        metavar="PATH",
        help="TLS with this PEM root certificate (implies --tls)",
    )
    connection.add_argument(
        "--timeout", type=_positive_float, default=60.0, help="seconds per call (default %(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the client's retries to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in _COMMANDS:
        register(commands)
    return parser


def _command(
    commands: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace, Client | None], int],
    help_text: str,
    *,
    description: str = "",
    needs_client: bool = True,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, needs_client=needs_client, command_name=parser.prog[len(PROG) + 1 :])
    return parser


def _group(commands: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


# --------------------------------------------------------------------------- connection and errors


def _client(args: argparse.Namespace) -> Client:
    tls: bool | str | None = str(args.ca_cert) if args.ca_cert else (True if args.tls else None)
    interpreter, motifmatch = _service_address(args, "interpreter"), _service_address(args, "motifmatch")
    try:
        return Client(
            args.address,
            interpreter_address=interpreter,
            motifmatch_address=motifmatch,
            token=args.token or None,
            tls=tls,
            timeout=args.timeout,
        )
    except MotiflensClientError as error:  # found before any call, e.g. an unreadable --ca-cert
        raise CliError(error.message) from None


_PORT_OFFSETS = {"trainer": 0, "interpreter": 1, "motifmatch": 2}


def _service_address(args: argparse.Namespace, service: str) -> str:
    explicit = getattr(args, f"{service}_address", None)
    if explicit:
        return explicit
    host, colon, port = args.address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise CliError(
            f"--address: expected HOST:PORT, got {args.address!r} (the interpreter and motifmatch "
            "take PORT+1 and PORT+2 unless --interpreter-address/--motifmatch-address are given)"
        )
    return f"{host}:{int(port) + _PORT_OFFSETS[service]}"


def _server_error(error: MotiflensClientError, command: str, args: argparse.Namespace) -> int:
    code = getattr(error.code, "name", str(error.code))
    message = f"{code}: {error.message}"
    service = _SERVICE_OF.get(command.split(" ")[0], "")
    where = ""
    if service:
        try:
            where = f" ({service} at {_service_address(args, service)})"
        except CliError:
            where = ""
    if isinstance(error, Unavailable):
        _fail(f"{message}{where}; is the stack running? start it with `motiflens up` or pass --address")
        return EXIT_UNAVAILABLE
    if error.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message += " (raise --timeout for slow calls)"
    _fail(f"{message}{where}")
    return EXIT_SERVER


_SERVICE_OF = {
    "dataset": "trainer",
    "train": "trainer",
    "jobs": "trainer",
    "sweep": "trainer",
    "models": "trainer",
    "filters": "interpreter",
    "attribute": "interpreter",
    "predict": "interpreter",
    "tomtom": "motifmatch",
    "databases": "motifmatch",
}


def _fail(message: str) -> None:
    one_line = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")
    sys.stderr.flush()


def _job_failed_message(info: Any) -> str:
    detail = f": {info.error}" if getattr(info, "error", "") else ""
    return f"job {info.job_id} ended {info.state}{detail}"


# --------------------------------------------------------------------------- argument types


def _input_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"not a file: {text}")
    return path


def _output_file(text: str) -> Path:
    path = Path(text).expanduser()
    parent = path.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: folder {parent} does not exist")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder; give a file name")
    return path


def _output_dir(text: str) -> Path:
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    return path


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _add_first_layer_l2(parser: argparse.ArgumentParser) -> None:
    """``--first-layer-l2`` of ``train`` and ``sweep start`` (None: the activation's default)."""
    parser.add_argument(
        "--first-layer-l2",
        type=_non_negative_float,
        default=None,
        metavar="STRENGTH",
        help="L2 on the first-layer kernel (default: the activation's, 0.2 for log_relu, else 1e-6)",
    )


def _param(text: str) -> tuple[str, float]:
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


def _word_list(kind: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
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


# --------------------------------------------------------------------------- local inputs


@dataclasses.dataclass(frozen=True)
class FastaRecords:
    """Records of a FASTA file: ``ids[i]`` names ``sequences[i]`` (upper case)."""

    ids: tuple[str, ...]
    sequences: tuple[str, ...]

    def to_text(self) -> str:
        """The records as FASTA text, one sequence line per record."""
        return "".join(
            f">{name}\n{sequence}\n" for name, sequence in zip(self.ids, self.sequences, strict=True)
        )


def read_fasta(path: Path) -> FastaRecords:
    """Read a FASTA file of DNA sequences, all of one length.

    Multi-line records and blank lines are allowed; a record's id is the first word
    of its header.

    Parameters
    ----------
    path : Path

    Returns
    -------
    FastaRecords

    Raises
    ------
    CliError
        ``FILE:LINE: ...`` for text before the first header, a record without
        sequence, a character outside A, C, G, T, N, or a length differing from
        the first record's; ``FILE: ...`` for an unreadable or empty file.
    """
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as error:
        raise CliError(f"{path}: cannot read: {error.strerror or error}") from None
    ids: list[str] = []
    chunks: list[list[str]] = []
    header_lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if chunks and not chunks[-1]:
                raise CliError(f"{path}:{header_lines[-1]}: record {ids[-1]!r} has no sequence")
            words = line[1:].split()
            ids.append(words[0] if words else f"seq{len(ids)}")
            chunks.append([])
            header_lines.append(number)
            continue
        if not ids:
            raise CliError(
                f"{path}:{number}: sequence text before the first '>' header; "
                "a FASTA record starts with a line '>name'"
            )
        bad = _BASES.search(line)
        if bad:
            raise CliError(
                f"{path}:{number}: invalid character {bad.group()!r} at column {bad.start() + 1} "
                f"in record {ids[-1]!r}; accepted: {ACCEPTED_BASES}"
            )
        chunks[-1].append(line.upper())
    if not ids:
        raise CliError(f"{path}: no FASTA record found (expected lines starting with '>')")
    if not chunks[-1]:
        raise CliError(f"{path}:{header_lines[-1]}: record {ids[-1]!r} has no sequence")
    sequences = ["".join(chunk) for chunk in chunks]
    for index, sequence in enumerate(sequences):
        if len(sequence) != len(sequences[0]):
            raise CliError(
                f"{path}:{header_lines[index]}: record {ids[index]!r} has {len(sequence)} nt; "
                f"all records must have the length of the first ({len(sequences[0])} nt)"
            )
    return FastaRecords(ids=tuple(ids), sequences=tuple(sequences))


def read_hdf5_split(path: Path, split: str, *, offset: int = 0, limit: int = 0) -> np.ndarray:
    """Read ``X_<split>`` rows [offset, offset + limit) of an HDF5 file in the paper's layout.

    Parameters
    ----------
    path : Path
    split : {"train", "valid", "test"}
    offset : int, default 0
    limit : int, default 0
        0 reads every row from ``offset`` on.

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32
        X stored as (N, 4, L) (the authors' files) is transposed.

    Raises
    ------
    CliError
        h5py missing, not an HDF5 file, no ``X_<split>`` key, or a shape that is
        neither (N, 4, L) nor (N, L, 4).
    """
    try:
        import h5py
    except ImportError:
        raise CliError(
            "--hdf5 needs h5py (pip install h5py); or import the file with `dataset import-hdf5`"
        ) from None
    key = f"X_{split}"
    try:
        with h5py.File(path, "r") as handle:
            if key not in handle:
                found = ", ".join(sorted(handle.keys())) or "nothing"
                raise CliError(
                    f"{path}: no {key!r} in the file (found: {found}); the paper's layout has X_{{split}}"
                )
            dataset = handle[key]
            if dataset.ndim != 3 or 4 not in (dataset.shape[1], dataset.shape[2]):
                raise CliError(f"{path}: {key}: expected shape (N, 4, L) or (N, L, 4), got {dataset.shape}")
            stop = dataset.shape[0] if limit == 0 else min(dataset.shape[0], offset + limit)
            X = np.asarray(dataset[offset:stop], dtype=np.float32)
    except OSError as error:
        raise CliError(f"{path}: not a readable HDF5 file ({error})") from None
    if X.shape[2] != 4:
        X = np.transpose(X, (0, 2, 1))
    if X.shape[0] == 0:
        raise CliError(f"{path}: {key}: no rows from offset {offset}")
    return np.ascontiguousarray(X)


def read_labels(path: Path) -> np.ndarray:
    """Labels for a FASTA import: ``.npy`` or whitespace/comma-separated text (one row per record).

    Returns
    -------
    np.ndarray, shape (N, T), float32
        A 1-D file becomes (N, 1).

    Raises
    ------
    CliError
        Unreadable, non-numeric or not 1-D/2-D.
    """
    try:
        if path.suffix == ".npy":
            labels = np.load(path, allow_pickle=False)
        else:
            labels = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=1)
        labels = np.asarray(labels, dtype=np.float32)
    except (OSError, ValueError) as error:
        raise CliError(
            f"{path}: cannot read labels ({error}); accepted: a .npy array or a text file with "
            "one row of numbers per FASTA record"
        ) from None
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise CliError(f"{path}: labels must have shape (N,) or (N, T), got {labels.shape}")
    return labels


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: cannot read: {error}") from None


def _write(path: Path, writer: Callable[[Path], None]) -> None:
    try:
        writer(path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def _add_sequence_source(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("sequences (one of)")
    group = source.add_mutually_exclusive_group(required=True)
    group.add_argument("--dataset", metavar="ID", help="rows of a stored data set (see --split)")
    group.add_argument(
        "--fasta", type=_input_file, metavar="FILE", help="FASTA file, all records of one length"
    )
    group.add_argument(
        "--hdf5",
        type=_input_file,
        metavar="FILE",
        help="HDF5 file in the paper's layout, X_<split> as (N, 4, L) or (N, L, 4); needs h5py",
    )
    source.add_argument(
        "--split", choices=SPLITS, help="split of --dataset or --hdf5 (default test; not for --fasta)"
    )
    source.add_argument("--offset", type=_non_negative_int, default=0, help="first sequence (default 0)")
    source.add_argument(
        "--limit", type=_non_negative_int, default=0, help="at most N sequences (default 0: all)"
    )


@dataclasses.dataclass(frozen=True)
class _Sequences:
    value: Any  # list[str] | np.ndarray | DatasetSplit
    source: str
    ids: tuple[str, ...] | None = None


def _sequences(args: argparse.Namespace) -> _Sequences:
    split = args.split or "test"
    window = f"[{args.offset}:{args.offset + args.limit if args.limit else ''}]"
    if args.fasta is not None:
        if args.split:
            raise CliError("--split applies to --dataset and --hdf5, not to --fasta")
        records = read_fasta(args.fasta)
        stop = len(records.ids) if args.limit == 0 else args.offset + args.limit
        ids, sequences = records.ids[args.offset : stop], records.sequences[args.offset : stop]
        if not sequences:
            raise CliError(
                f"{args.fasta}: no record from --offset {args.offset} ({len(records.ids)} records)"
            )
        return _Sequences(list(sequences), f"fasta:{args.fasta}{window}", tuple(ids))
    if args.hdf5 is not None:
        X = read_hdf5_split(args.hdf5, split, offset=args.offset, limit=args.limit)
        return _Sequences(X, f"hdf5:{args.hdf5}:X_{split}{window}")
    reference = DatasetSplit(args.dataset, split=split, offset=args.offset, limit=args.limit)
    return _Sequences(reference, f"dataset:{args.dataset}:{split}{window}")


# --------------------------------------------------------------------------- output helpers


def _out(text: str = "") -> None:
    sys.stdout.write(f"{text}\n")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return None
    return value


def _print_json(value: Any) -> None:
    _out(json.dumps(_jsonable(value), indent=2, allow_nan=False))


def _format(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_format(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        _out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        _out(f"{name.ljust(width)}  {_format(value)}")


def _metric(metrics: Any, name: str) -> str:
    if metrics is None:
        return "-"
    return f"{_format(getattr(metrics, name))} +/- {_format(getattr(metrics, f'{name}_std'))}"


def _params(params: dict) -> str:
    return ",".join(f"{key}={value:g}" for key, value in sorted(params.items())) or "-"


# --------------------------------------------------------------------------- up


def _register_up(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "up",
        _cmd_up,
        "run the trainer, interpreter and motifmatch on this machine (foreground)",
        description=(
            "Run the trainer, interpreter and motifmatch on loopback in the foreground until Ctrl-C\n"
            "(what `make up` runs). Needs the full motiflens installation (TensorFlow, services)."
        ),
        needs_client=False,
    )
    parser.add_argument(
        "--store", help="file:///... or s3://bucket/prefix?endpoint=... (default ~/.motiflens/store)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument(
        "--base-port",
        type=_non_negative_int,
        default=50051,
        help="trainer port; interpreter and motifmatch take the next two (default %(default)s)",
    )


def _cmd_up(args: argparse.Namespace, client: None) -> int:
    try:
        from services import launcher
    except ImportError as error:
        raise CliError(
            f"up needs the full motiflens installation (the 'services' package with TensorFlow; {error}); "
            "install motiflens or run `make up` in its repository"
        ) from None
    argv = ["--host", args.host, "--base-port", str(args.base_port)]
    if args.store:
        argv += ["--store", args.store]
    try:
        return launcher.main(argv)
    except RuntimeError as error:
        raise CliError(f"the stack did not start: {error}", EXIT_SERVER) from None


# --------------------------------------------------------------------------- dataset


def _register_dataset(commands: argparse._SubParsersAction) -> None:
    sub = _group(commands, "dataset", "create, import and list data sets (trainer)")

    parser = _command(sub, "create", _cmd_dataset_create, "generate the paper's synthetic Task 1 or Task 3")
    parser.add_argument("--task", type=int, choices=(1, 3), required=True)
    parser.add_argument(
        "--num-sequences",
        type=_non_negative_int,
        default=0,
        help="total sequences, split 0.7/0.1/0.2 (default 0: 30,000 for Task 1, 20,000 for Task 3)",
    )
    parser.add_argument("--sequence-length", type=_non_negative_int, default=0, help="nt (default 0: 200)")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="default %(default)s")
    parser.add_argument("--name", default="", help="human-readable name")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = _command(
        sub,
        "import-hdf5",
        _cmd_dataset_import_hdf5,
        "upload an HDF5 file in the paper's layout (X_train, Y_train, ...)",
    )
    parser.add_argument("file", type=_input_file, metavar="FILE")
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = _command(
        sub,
        "import-fasta",
        _cmd_dataset_import_fasta,
        "upload FASTA sequences with labels; the server splits them 0.7/0.1/0.2",
    )
    parser.add_argument("fasta", type=_input_file, metavar="FASTA", help="all records of one length")
    parser.add_argument(
        "--labels",
        type=_input_file,
        required=True,
        metavar="FILE",
        help="LABELS.npy, or .txt/.csv with one row of numbers per record; shape (N,) or (N, T)",
    )
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = _command(sub, "get", _cmd_dataset_get, "describe a data set")
    parser.add_argument("dataset_id", metavar="ID")
    parser.add_argument("--json", action="store_true")

    parser = _command(sub, "list", _cmd_dataset_list, "list data sets, newest first")
    parser.add_argument("--json", action="store_true")


def _print_dataset_id(args: argparse.Namespace, info: Any) -> int:
    if args.json:
        _print_json(info)
    else:
        _out(info.dataset_id)
    return EXIT_OK


def _cmd_dataset_create(args: argparse.Namespace, client: Client) -> int:
    info = client.create_task(
        args.task,
        num_sequences=args.num_sequences,
        seed=args.seed,
        sequence_length=args.sequence_length,
        name=args.name,
    )
    return _print_dataset_id(args, info)


def _cmd_dataset_import_hdf5(args: argparse.Namespace, client: Client) -> int:
    info = client.import_hdf5(args.file, reverse_complement=args.reverse_complement, name=args.name)
    return _print_dataset_id(args, info)


def _cmd_dataset_import_fasta(args: argparse.Namespace, client: Client) -> int:
    records = read_fasta(args.fasta)
    labels = read_labels(args.labels)
    if labels.shape[0] != len(records.ids):
        raise CliError(
            f"{args.labels}: {labels.shape[0]} label rows but {args.fasta} has {len(records.ids)} records; "
            "give one row per record, in FASTA order"
        )
    info = client.import_fasta(
        records.to_text(),
        labels,
        seed=args.seed,
        reverse_complement=args.reverse_complement,
        name=args.name,
    )
    return _print_dataset_id(args, info)


def _cmd_dataset_get(args: argparse.Namespace, client: Client) -> int:
    info = client.get_dataset(args.dataset_id)
    if args.json:
        _print_json(info)
        return EXIT_OK
    _print_fields(
        [
            ("dataset_id", info.dataset_id),
            ("name", info.name),
            ("kind", info.kind),
            ("train/valid/test", f"{info.num_train}/{info.num_valid}/{info.num_test}"),
            ("sequence_length", info.sequence_length),
            ("num_targets", info.num_targets),
            ("label_names", ",".join(info.label_names)),
            ("has_ground_truth", info.has_ground_truth),
            ("seed", info.seed),
            ("created_at", info.created_at),
        ]
    )
    return EXIT_OK


def _cmd_dataset_list(args: argparse.Namespace, client: Client) -> int:
    datasets = client.list_datasets()
    if args.json:
        _print_json(datasets)
        return EXIT_OK
    _print_table(
        ("DATASET_ID", "KIND", "TRAIN/VALID/TEST", "LENGTH", "TARGETS", "NAME", "CREATED"),
        [
            (
                d.dataset_id,
                d.kind,
                f"{d.num_train}/{d.num_valid}/{d.num_test}",
                d.sequence_length,
                d.num_targets,
                d.name,
                d.created_at,
            )
            for d in datasets
        ],
    )
    return EXIT_OK


# --------------------------------------------------------------------------- train, jobs, models


def _register_train(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "train",
        _cmd_train,
        "train a model on a data set (waits, with a progress bar, unless --no-wait)",
        description=(
            "Queue a training job and follow it: a progress bar on stderr (when it is a terminal),\n"
            "then the job id, model id and test metrics. Ctrl-C stops waiting; the job keeps running.\n"
            "Exit code 1 when the job ends FAILED or CANCELLED."
        ),
    )
    parser.add_argument("dataset_id", metavar="DATASET_ID")
    parser.add_argument(
        "--architecture",
        required=True,
        help="cnn_2, cnn_50, cnn_deep, cnn_local, cnn_dist, basset, residualbind",
    )
    parser.add_argument("--activation", required=True, help="first-layer activation, e.g. relu, exponential")
    parser.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="NAME=NUMBER",
        help="activation parameter, repeatable (e.g. --param scale=2.0)",
    )
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="model seed (default 0)")
    parser.add_argument("--epochs", type=_non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument(
        "--patience", type=_non_negative_int, default=0, help="early stopping (default 0: 20)"
    )
    parser.add_argument("--batch-size", type=_non_negative_int, default=0, help="default 0: 100")
    parser.add_argument("--learning-rate", type=_non_negative_float, default=0.0, help="default 0: 1e-3")
    parser.add_argument("--width-multiplier", type=_non_negative_int, default=0, help="default 0: 1")
    _add_first_layer_l2(parser)
    parser.add_argument("--initializer", default="", help="default glorot_uniform")
    parser.add_argument("--name", default="")
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the final job as JSON")


def _cmd_train(args: argparse.Namespace, client: Client) -> int:
    job = client.train(
        args.dataset_id,
        architecture=args.architecture,
        activation=args.activation,
        activation_params=dict(args.param) or None,
        initializer=args.initializer,
        width_multiplier=args.width_multiplier,
        seed=args.seed,
        first_layer_l2=args.first_layer_l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        name=args.name,
    )
    if args.no_wait:
        if args.json:
            _print_json({"job_id": job.job_id})
        else:
            _out(job.job_id)
        return EXIT_OK
    sys.stderr.write(f"{PROG}: job {job.job_id} queued; Ctrl-C stops waiting (the job keeps running)\n")
    try:
        info = job.wait(progress=False if args.quiet else None)
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; job {job.job_id} keeps running (`{PROG} jobs watch {job.job_id}`, "
            f"`{PROG} jobs cancel {job.job_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    _print_job(args, info)
    return EXIT_OK


def _print_job(args: argparse.Namespace, info: Any) -> None:
    if args.json:
        _print_json(info)
        return
    metrics = info.test_metrics
    _print_fields(
        [
            ("job_id", info.job_id),
            ("state", info.state),
            ("model_id", info.model_id),
            ("dataset_id", info.dataset_id),
            ("model", f"{info.architecture} / {info.activation} ({_params(info.activation_params)})"),
            ("seed", info.seed),
            ("epochs_done", info.epochs_done),
            ("test_auroc", _metric(metrics, "auroc")),
            ("test_aupr", _metric(metrics, "aupr")),
            ("test_loss", None if metrics is None else metrics.loss),
            ("error", info.error),
            ("created_at", info.created_at),
            ("finished_at", info.finished_at),
        ]
    )


def _register_jobs(commands: argparse._SubParsersAction) -> None:
    sub = _group(commands, "jobs", "list, inspect, follow and cancel training jobs (trainer)")
    parser = _command(sub, "list", _cmd_jobs_list, "list jobs, newest first")
    parser.add_argument("--json", action="store_true")
    parser = _command(sub, "get", _cmd_jobs_get, "describe a job")
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true")
    parser = _command(
        sub,
        "watch",
        _cmd_jobs_watch,
        "print a job's epochs (past, then live) until it ends; exit 1 if it ends FAILED or CANCELLED",
    )
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true", help="one JSON object per line: epochs, then the job")
    parser = _command(sub, "cancel", _cmd_jobs_cancel, "cancel a queued or running job")
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true")


def _cmd_jobs_list(args: argparse.Namespace, client: Client) -> int:
    jobs = client.list_jobs()
    if args.json:
        _print_json(jobs)
        return EXIT_OK
    _print_table(
        ("JOB_ID", "STATE", "ARCHITECTURE", "ACTIVATION", "EPOCHS", "TEST_AUPR", "MODEL_ID", "CREATED"),
        [
            (
                j.job_id,
                j.state,
                j.architecture,
                j.activation,
                j.epochs_done,
                None if j.test_metrics is None else j.test_metrics.aupr,
                j.model_id,
                j.created_at,
            )
            for j in jobs
        ],
    )
    return EXIT_OK


def _cmd_jobs_get(args: argparse.Namespace, client: Client) -> int:
    _print_job(args, client.job(args.job_id).info())
    return EXIT_OK


def _cmd_jobs_watch(args: argparse.Namespace, client: Client) -> int:
    job: Job = client.job(args.job_id)
    for event in job.events():
        if args.json:
            _out(json.dumps({"event": "epoch", **_jsonable(event)}, allow_nan=False))
            continue
        _out(
            f"epoch {event.epoch:>3}  loss {event.loss:.4f}  val_loss {event.val_loss:.4f}  "
            f"val_aupr {event.val_aupr:.4f}  val_auroc {event.val_auroc:.4f}  "
            f"lr {event.learning_rate:.1e}  {event.seconds:.1f} s{'  *' if event.improved else ''}"
        )
    info = getattr(job, "last_info", None) or job.info()
    if args.json:
        _out(json.dumps({"event": "job", **_jsonable(info)}, allow_nan=False))
    else:
        _print_job(args, info)
    if info.state in ("FAILED", "CANCELLED"):
        raise CliError(_job_failed_message(info), EXIT_JOB_FAILED)
    return EXIT_OK


def _cmd_jobs_cancel(args: argparse.Namespace, client: Client) -> int:
    info = client.job(args.job_id).cancel()
    if args.json:
        _print_json(info)
    else:
        _out(f"{info.job_id}  {info.state}")
    return EXIT_OK


def _activation_choice(text: str) -> tuple[str, dict[str, float]]:
    """Parse "exponential" or "scaled_exponential:scale=2" (parameters after ":", separated by ";")."""
    name, _, rest = text.partition(":")
    params = dict(_param(part) for part in rest.split(";") if part.strip())
    if not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME or NAME:PARAM=NUMBER, got {text!r}")
    return name.strip(), params


def _register_sweep(commands: argparse._SubParsersAction) -> None:
    sub = _group(commands, "sweep", "grids of training jobs: architectures x activations x seeds (trainer)")
    parser = _command(
        sub,
        "start",
        _cmd_sweep_start,
        "start a sweep and print its id (with --wait, follow it to the end)",
        description=(
            "One training job per (architecture, activation, initializer, seed). Out of a cluster the\n"
            "trainer's worker processes run them; in a cluster one Kubernetes Indexed Job does.\n"
            "Example: motiflens sweep start DS --architectures cnn_2,cnn_50,cnn_deep \\\n"
            "           --activations exponential,relu,scaled_exponential:scale=2 --seeds 0,1,2"
        ),
    )
    parser.add_argument("dataset_id", metavar="DATASET_ID")
    parser.add_argument("--architectures", type=_word_list(str), required=True, metavar="A,B,...")
    parser.add_argument(
        "--activations",
        type=_word_list(_activation_choice),
        required=True,
        metavar="A,B,...",
        help="names, with parameters as NAME:PARAM=NUMBER (e.g. scaled_exponential:scale=2)",
    )
    parser.add_argument("--seeds", type=_word_list(int), default=[], metavar="0,1,...", help="default 0")
    parser.add_argument("--initializers", type=_word_list(str), default=[], help="default glorot_uniform")
    parser.add_argument("--epochs", type=_non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument(
        "--patience", type=_non_negative_int, default=0, help="early stopping (default 0: 20)"
    )
    parser.add_argument("--batch-size", type=_non_negative_int, default=0, help="default 0: 100")
    parser.add_argument("--learning-rate", type=_non_negative_float, default=0.0, help="default 0: 1e-3")
    parser.add_argument("--width-multiplier", type=_non_negative_int, default=0, help="default 0: 1")
    _add_first_layer_l2(parser)
    parser.add_argument("--name", default="", help="prefix of the model names")
    parser.add_argument(
        "--parallelism",
        type=_non_negative_int,
        default=0,
        help="pods at once in a cluster (0: server default)",
    )
    parser.add_argument("--gpu", action="store_true", help="in a cluster: GPU nodes and the GPU image")
    parser.add_argument("--wait", action="store_true", help="follow the sweep; exit 1 unless all succeed")
    parser.add_argument("--json", action="store_true")
    for name, handler, help_text in (
        ("get", _cmd_sweep_get, "describe a sweep (progress, Kubernetes Job status)"),
        ("wait", _cmd_sweep_wait, "follow a sweep to the end; exit 1 unless every job succeeded"),
        ("cancel", _cmd_sweep_cancel, "cancel every unfinished job of a sweep"),
    ):
        parser = _command(sub, name, handler, help_text)
        parser.add_argument("sweep_id", metavar="ID")
        parser.add_argument("--jobs", action="store_true", help="also list the sweep's jobs")
        parser.add_argument("--json", action="store_true")
    parser = _command(sub, "list", _cmd_sweep_list, "list sweeps, newest first")
    parser.add_argument("--json", action="store_true")


def _cmd_sweep_start(args: argparse.Namespace, client: Client) -> int:
    sweep = client.sweep(
        args.dataset_id,
        architectures=args.architectures,
        activations=args.activations,
        seeds=args.seeds,
        initializers=args.initializers,
        width_multiplier=args.width_multiplier,
        first_layer_l2=args.first_layer_l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        name=args.name,
        parallelism=args.parallelism,
        gpu=args.gpu,
    )
    if not args.wait:
        info = sweep.info()
        if args.json:
            _print_json(info)
        else:
            _out(f"{info.sweep_id}  {info.state}  {info.total} jobs ({info.executor})")
        return EXIT_OK
    args.jobs = False
    return _follow_sweep(args, sweep)


def _follow_sweep(args: argparse.Namespace, sweep: Any) -> int:
    try:
        info = sweep.wait(progress=not args.json)
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; sweep {sweep.sweep_id} keeps running (`{PROG} sweep get {sweep.sweep_id}`, "
            f"`{PROG} sweep cancel {sweep.sweep_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    _print_sweep(args, info, sweep.jobs() if args.jobs else None)
    if info.state != "SUCCEEDED":
        raise CliError(
            f"sweep {info.sweep_id} ended {info.state}: {info.failed} failed, {info.cancelled} cancelled "
            f"(`{PROG} sweep get {info.sweep_id} --jobs` shows each error)",
            EXIT_JOB_FAILED,
        )
    return EXIT_OK


def _print_sweep(args: argparse.Namespace, info: Any, jobs: list | None) -> None:
    if args.json:
        _print_json({"sweep": info, "jobs": jobs} if jobs is not None else info)
        return
    _print_fields(
        [
            ("sweep_id", info.sweep_id),
            ("name", info.name),
            ("state", info.state),
            ("dataset_id", info.dataset_id),
            ("executor", info.executor),
            (
                "jobs",
                f"{info.total}: {info.pending} pending, {info.running} running, {info.succeeded} succeeded, "
                f"{info.failed} failed, {info.cancelled} cancelled",
            ),
            ("parallelism", info.parallelism),
            ("kubernetes_job", info.kubernetes_job),
            ("kubernetes_status", info.kubernetes_status),
            ("error", info.error),
            ("created_at", info.created_at),
            ("finished_at", info.finished_at),
        ]
    )
    if jobs:
        _out()
        _print_table(
            ("INDEX", "JOB_ID", "STATE", "NAME", "TEST_AUPR", "MODEL_ID", "ERROR"),
            [
                (
                    j.sweep_index,
                    j.job_id,
                    j.state,
                    j.name,
                    None if j.test_metrics is None else j.test_metrics.aupr,
                    j.model_id,
                    j.error,
                )
                for j in jobs
            ],
        )


def _cmd_sweep_get(args: argparse.Namespace, client: Client) -> int:
    sweep = client.get_sweep(args.sweep_id)
    _print_sweep(args, sweep.info(), sweep.jobs() if args.jobs else None)
    return EXIT_OK


def _cmd_sweep_wait(args: argparse.Namespace, client: Client) -> int:
    return _follow_sweep(args, client.get_sweep(args.sweep_id))


def _cmd_sweep_cancel(args: argparse.Namespace, client: Client) -> int:
    info = client.get_sweep(args.sweep_id).cancel()
    _print_sweep(args, info, None)
    return EXIT_OK


def _cmd_sweep_list(args: argparse.Namespace, client: Client) -> int:
    sweeps = client.list_sweeps()
    if args.json:
        _print_json(sweeps)
        return EXIT_OK
    _print_table(
        ("SWEEP_ID", "STATE", "JOBS", "DONE", "FAILED", "EXECUTOR", "NAME", "CREATED"),
        [
            (
                s.sweep_id,
                s.state,
                s.total,
                s.succeeded + s.failed + s.cancelled,
                s.failed,
                s.executor,
                s.name,
                s.created_at,
            )
            for s in sweeps
        ],
    )
    return EXIT_OK


def _register_models(commands: argparse._SubParsersAction) -> None:
    sub = _group(commands, "models", "trained models (trainer)")
    parser = _command(sub, "list", _cmd_models_list, "list trained models, newest first")
    parser.add_argument("--dataset", default="", metavar="ID", help="only models of this data set")
    parser.add_argument("--json", action="store_true")


def _cmd_models_list(args: argparse.Namespace, client: Client) -> int:
    models = client.list_models(args.dataset)
    if args.json:
        _print_json(models)
        return EXIT_OK
    _print_table(
        ("MODEL_ID", "ARCHITECTURE", "ACTIVATION", "SEED", "TEST_AUROC", "TEST_AUPR", "DATASET_ID", "NAME"),
        [
            (
                m.model_id,
                m.architecture,
                m.activation
                if not m.activation_params
                else f"{m.activation}({_params(m.activation_params)})",
                m.seed,
                None if m.test_metrics is None else m.test_metrics.auroc,
                None if m.test_metrics is None else m.test_metrics.aupr,
                m.dataset_id,
                m.name,
            )
            for m in models
        ],
    )
    return EXIT_OK


# --------------------------------------------------------------------------- interpreter


def _register_filters(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "filters",
        _cmd_filters,
        "first-layer filters as PWMs (MEME file, PNG logos)",
        description=(
            "First-layer filters as PWMs, by aligning the sequence windows where each filter\n"
            "activates above --threshold of its maximum (the paper used the test split).\n"
            "Without --meme the MEME text goes to stdout; with it, a summary table does."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    _add_sequence_source(parser)
    parser.add_argument(
        "--threshold",
        type=_non_negative_float,
        default=0.0,
        help="fraction of a filter's maximum a site must exceed (default 0: 0.5)",
    )
    parser.add_argument(
        "--window", type=_non_negative_int, default=0, help="nt (default 0: the filter width)"
    )
    parser.add_argument(
        "--meme", type=_output_file, metavar="OUT.meme", help="write the filters in MEME format"
    )
    parser.add_argument(
        "--logos", type=_output_dir, metavar="DIR", help="write DIR/filter<i>.png logos (created if missing)"
    )


def _cmd_filters(args: argparse.Namespace, client: Client) -> int:
    sequences = _sequences(args)
    result = client.filters(
        args.model_id,
        sequences.value,
        threshold=args.threshold,
        window=args.window,
        logos=args.logos is not None,
    )
    if args.logos is not None:
        try:
            args.logos.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CliError(f"cannot create {args.logos}: {error.strerror or error}") from None
        for motif in result.filters:
            if motif.logo_png:
                _write(
                    args.logos / f"{motif.motif_id}.png",
                    lambda path, data=motif.logo_png: path.write_bytes(data),
                )
    if args.meme is None:
        sys.stdout.write(result.meme)
        return EXIT_OK
    _write(args.meme, lambda path: path.write_text(result.meme, encoding="utf-8"))
    _print_table(
        ("FILTER", "SITES", "MAX_ACTIVATION", "CONSENSUS"),
        [
            (m.motif_id, m.num_sites, m.max_activation, _consensus(m.pwm) if m.num_sites else "-")
            for m in result.filters
        ],
    )
    return EXIT_OK


def _consensus(pwm: np.ndarray) -> str:
    return "".join("ACGT"[i] for i in np.argmax(np.asarray(pwm), axis=1))


def _register_attribute(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "attribute",
        _cmd_attribute,
        "attribution maps to an NPZ file (scores (N, L, 4) + settings)",
        description=(
            "Attribution maps of one output unit. OUT.npz holds `scores` (N, L, 4) float32 and the\n"
            "settings (model_id, method, target, output, reference, num_references, num_steps, seed,\n"
            "times_input, source), plus `ids` for FASTA input."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    _add_sequence_source(parser)
    parser.add_argument("--method", choices=METHODS, required=True)
    parser.add_argument("--target", type=_non_negative_int, default=0, help="output unit (default 0)")
    parser.add_argument("--output", choices=OUTPUTS, default="logit", help="default %(default)s")
    parser.add_argument(
        "--reference",
        choices=REFERENCES,
        default="shuffle",
        help="references of integrated_gradients/deepshap (default %(default)s: position shuffle)",
    )
    parser.add_argument("--num-references", type=_non_negative_int, default=0, help="default 0: 10")
    parser.add_argument("--num-steps", type=_non_negative_int, default=0, help="integrated gradients (0: 20)")
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, help="seed of the references (default 0)"
    )
    parser.add_argument("--times-input", action="store_true", help="multiply saliency by the input")
    parser.add_argument("--out", type=_output_file, required=True, metavar="OUT.npz")


def _cmd_attribute(args: argparse.Namespace, client: Client) -> int:
    sequences = _sequences(args)
    scores = client.attribute(
        args.model_id,
        sequences.value,
        method=args.method,
        target=args.target,
        output=args.output,
        reference=args.reference,
        num_references=args.num_references,
        num_steps=args.num_steps,
        seed=args.seed,
        times_input=args.times_input,
    )
    arrays = {
        "scores": np.asarray(scores, dtype=np.float32),
        "model_id": np.array(args.model_id),
        "method": np.array(args.method),
        "target": np.array(args.target),
        "output": np.array(args.output),
        "reference": np.array(args.reference),
        "num_references": np.array(args.num_references),
        "num_steps": np.array(args.num_steps),
        "seed": np.array(args.seed),
        "times_input": np.array(args.times_input),
        "source": np.array(sequences.source),
    }
    if sequences.ids is not None:
        arrays["ids"] = np.array(sequences.ids)
    _write(args.out, lambda path: _save_npz(path, arrays))
    _out(f"{args.out}  scores {tuple(arrays['scores'].shape)}")
    return EXIT_OK


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # np.savez appends ".npz" to names without it; write through a handle to keep the name given.
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _register_predict(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "predict",
        _cmd_predict,
        "model predictions (N, T), to an NPZ file or as TSV on stdout",
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    _add_sequence_source(parser)
    parser.add_argument("--output", choices=OUTPUTS, default="probability", help="default %(default)s")
    parser.add_argument(
        "--out",
        type=_output_file,
        metavar="OUT.npz",
        help="`predictions` (N, T) + settings; default TSV on stdout",
    )


def _cmd_predict(args: argparse.Namespace, client: Client) -> int:
    sequences = _sequences(args)
    predictions = np.asarray(client.predict(args.model_id, sequences.value, output=args.output))
    if args.out is None:
        ids = sequences.ids or tuple(str(args.offset + i) for i in range(predictions.shape[0]))
        _out("\t".join(["id", *(f"target_{j}" for j in range(predictions.shape[1]))]))
        for name, row in zip(ids, predictions, strict=True):
            _out("\t".join([name, *(f"{value:.6g}" for value in row)]))
        return EXIT_OK
    arrays = {
        "predictions": predictions.astype(np.float32),
        "model_id": np.array(args.model_id),
        "output": np.array(args.output),
        "source": np.array(sequences.source),
    }
    if sequences.ids is not None:
        arrays["ids"] = np.array(sequences.ids)
    _write(args.out, lambda path: _save_npz(path, arrays))
    _out(f"{args.out}  predictions {tuple(predictions.shape)}")
    return EXIT_OK


# --------------------------------------------------------------------------- motifmatch


def _register_tomtom(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "tomtom",
        _cmd_tomtom,
        "compare MEME motifs with a motif database (MEME Tomtom's TSV)",
        description=(
            "Tomtom (MEME 5's defaults: Euclidean distance; or --dist pearson) of every query\n"
            "motif against a database; prints MEME Tomtom's TSV (Query_ID ... Orientation) to stdout or --out"
        ),
    )
    parser.add_argument(
        "queries", type=_input_file, metavar="QUERIES.meme", help="MEME minimal format (version 4)"
    )
    parser.add_argument(
        "--database",
        default="JASPAR2016",
        help="a JASPAR release (JASPAR2014 ... JASPAR2026) or an uploaded db-... id (default %(default)s)",
    )
    parser.add_argument("--collection", default="", help="JASPAR collection (default CORE)")
    parser.add_argument("--tax-group", default="", help="JASPAR taxonomic group (default vertebrates)")
    parser.add_argument(
        "--thresh",
        type=_non_negative_float,
        default=0.1,
        help="report hits with E-value <= this (default 0.1)",
    )
    parser.add_argument("--qvalue", type=_non_negative_float, default=0.0, help="threshold q-values instead")
    parser.add_argument("--trim", action="store_true", help="trim queries to informative columns first")
    parser.add_argument(
        "--dist",
        choices=("ed", "pearson"),
        default="ed",
        help="column distance, as MEME's -dist: ed (Euclidean, MEME 5's default) or pearson; default ed",
    )
    parser.add_argument(
        "--out", type=_output_file, metavar="OUT.tsv", help="write the TSV here instead of stdout"
    )


def _read_meme(path: Path) -> str:
    text = _read_text(path)
    if not re.search(r"^MEME version", text, flags=re.MULTILINE):
        raise CliError(f"{path}: not a MEME motif file (expected a 'MEME version 4' line, then MOTIF blocks)")
    if not re.search(r"^MOTIF\s", text, flags=re.MULTILINE):
        raise CliError(f"{path}: no 'MOTIF' block; expected at least one motif in MEME minimal format")
    return text


def _cmd_tomtom(args: argparse.Namespace, client: Client) -> int:
    result = client.tomtom(
        _read_meme(args.queries),
        database=args.database,
        collection=args.collection,
        tax_group=args.tax_group,
        evalue_threshold=args.thresh,
        qvalue_threshold=args.qvalue,
        trim=args.trim,
        distance=args.dist,
    )
    if args.out is None:
        sys.stdout.write(result.tsv)
        return EXIT_OK
    _write(args.out, lambda path: path.write_text(result.tsv, encoding="utf-8"))
    _out(f"{args.out}  {len(result.hits)} hits against {result.num_targets} targets")
    return EXIT_OK


def _register_databases(commands: argparse._SubParsersAction) -> None:
    sub = _group(commands, "databases", "motif databases for tomtom (motifmatch)")
    parser = _command(sub, "list", _cmd_databases_list, "list JASPAR releases and uploaded databases")
    parser.add_argument("--json", action="store_true")
    parser = _command(sub, "upload", _cmd_databases_upload, "upload a MEME file as a database; prints its id")
    parser.add_argument("name")
    parser.add_argument("meme", type=_input_file, metavar="FILE.meme")
    parser.add_argument("--json", action="store_true")


def _cmd_databases_list(args: argparse.Namespace, client: Client) -> int:
    databases = client.databases()
    if args.json:
        _print_json(databases)
        return EXIT_OK
    _print_table(
        ("DATABASE_ID", "NAME", "MOTIFS", "SOURCE", "COLLECTION", "TAX_GROUP"),
        [(d.database_id, d.name, d.num_motifs, d.source, d.collection, d.tax_group) for d in databases],
    )
    return EXIT_OK


def _cmd_databases_upload(args: argparse.Namespace, client: Client) -> int:
    info = client.upload_database(args.name, _read_meme(args.meme))
    if args.json:
        _print_json(info)
    else:
        _out(info.database_id)
    return EXIT_OK


# --------------------------------------------------------------------------- experiment and report


def _register_experiment(commands: argparse._SubParsersAction) -> None:
    parser = _command(
        commands,
        "experiment",
        _cmd_experiment,
        "the paper's grid: models x activations x seeds on one synthetic task",
        description=(
            "Generate one synthetic task (or reuse --dataset), train every model x activation x seed,\n"
            "match each model's filters against JASPAR (and, for Task 3, score the attribution\n"
            "methods), print one row per run and save results.json + results.csv to --out.\n"
            "Exit code 1 when a training job ends FAILED or CANCELLED."
        ),
    )
    parser.add_argument("--task", type=int, choices=(1, 3), required=True)
    parser.add_argument("--models", type=_word_list(str), required=True, help="e.g. cnn_deep,cnn_2")
    parser.add_argument("--activations", type=_word_list(str), required=True, help="e.g. relu,exponential")
    parser.add_argument(
        "--seeds", type=_word_list(int), default=[0], help="model seeds, e.g. 0,1,2 (default 0)"
    )
    parser.add_argument(
        "--num-sequences",
        type=_non_negative_int,
        default=0,
        help="default 0: 30,000 (Task 1), 20,000 (Task 3)",
    )
    parser.add_argument("--epochs", type=_non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument("--patience", type=_non_negative_int, default=0, help="default 0: the server's (20)")
    parser.add_argument("--database", default="JASPAR2016", help="Tomtom database (default %(default)s)")
    parser.add_argument("--dataset", default=None, metavar="ID", help="reuse this stored data set")
    parser.add_argument(
        "--data-seed", type=_non_negative_int, default=0, help="seed of the generated data set"
    )
    parser.add_argument(
        "--store",
        default=None,
        help="the stack's file store (URL or folder), read for Task 3's ground-truth example logo",
    )
    parser.add_argument("--name", default="", help="prefix of the job and data set names")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--out", type=_output_dir, required=True, metavar="DIR", help="created if missing")

    parser = _command(
        commands,
        "report",
        _cmd_report,
        "write the report of an experiment saved by `experiment --out DIR`",
        needs_client=False,
    )
    parser.add_argument("directory", type=_output_dir, metavar="DIR", help="holds results.json")


#: Columns of ``ExperimentResult.table()`` left out of the printed table (they stay in results.csv).
_EXPERIMENT_HIDDEN = frozenset({"model_id", "job_id", "covered_tfs", "num_filters", "train_seconds"})


def _cmd_experiment(args: argparse.Namespace, client: Client) -> int:
    from motiflens_client.experiment import Experiment

    try:
        experiment = Experiment(
            task=args.task,
            models=args.models,
            activations=args.activations,
            seeds=args.seeds,
            num_sequences=args.num_sequences,
            epochs=args.epochs,
            patience=args.patience,
            database=args.database,
            dataset_id=args.dataset,
            name=args.name,
            data_seed=args.data_seed,
            store=args.store,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    result = experiment.run(client, progress=not args.quiet)
    try:
        saved = result.save(args.out)
    except OSError as error:
        raise CliError(f"cannot write {args.out}: {error.strerror or error}") from None
    table = result.table()
    headers = [column for column in (table[0] if table else {}) if column not in _EXPERIMENT_HIDDEN]
    _print_table(headers, [[row[column] for column in headers] for row in table])
    _out(f"saved {saved}; write the report with `{PROG} report {args.out}`")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, client: None) -> int:
    from motiflens_client.experiment import RESULTS_JSON, ExperimentResult

    try:
        from motiflens_client.report import write_report
    except ImportError as error:
        raise CliError(f"report needs motiflens_client.report ({error})") from None
    if not (args.directory / RESULTS_JSON).is_file():
        raise CliError(f"{args.directory}: no {RESULTS_JSON}; give the --out folder of `{PROG} experiment`")
    try:
        result = ExperimentResult.load(args.directory)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CliError(
            f"{args.directory / RESULTS_JSON}: cannot read the saved experiment ({error})"
        ) from None
    try:
        path = write_report(result, args.directory)
    except ImportError as error:  # matplotlib/logomaker missing: the message names the extra
        raise CliError(str(error)) from None
    except OSError as error:
        raise CliError(f"cannot write the report into {args.directory}: {error.strerror or error}") from None
    _out(str(path))
    return EXIT_OK


_COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _register_up,
    _register_dataset,
    _register_train,
    _register_jobs,
    _register_sweep,
    _register_models,
    _register_filters,
    _register_attribute,
    _register_predict,
    _register_tomtom,
    _register_databases,
    _register_experiment,
)
