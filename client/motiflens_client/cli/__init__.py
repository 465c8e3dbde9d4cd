"""The ``motiflens`` command: the SDK from a shell.

``motiflens [global options] COMMAND ...`` talks to a running stack (``motiflens up``
or ``make up``): the trainer at ``--address`` and the interpreter and motifmatch at
the next two ports unless given. Every command has ``--help``. Results go to stdout
(tables, ids, TSV, MEME, or JSON with ``--json``); files go where ``--out``,
``--meme`` and ``--logos`` say. Long calls draw a progress bar on stderr when it is a
terminal (never on stdout; ``--no-progress`` turns them off). A failure prints one line,
``motiflens: error: ...``, to stderr and exits with the code listed in the
top-level ``--help``.

Only grpcio, protobuf, numpy and tqdm (bars on a terminal) are imported; ``--hdf5`` inputs go to the
trainer (no h5py here), and ``up`` runs ``python -m services.launcher`` as a child
process (the full motiflens installation: TensorFlow, services).

This module holds the entry point, the connection options and the mapping of errors
to exit codes; each command group lives in its own module (``up``, ``datasets``,
``train``, ``sweeps``, ``interpret``, ``motifs``, ``experiment``), with the shared
helpers in ``_args``, ``_inputs`` and ``_output``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

import grpc

from motiflens_client import __version__
from motiflens_client.cli import (
    attributions,
    datasets,
    experiment,
    interpret,
    motifs,
    sweeps,
    train,
    up,
    variants,
)
from motiflens_client.cli._args import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_SERVER,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    Commands,
    Parser,
    ServiceCallFailed,
    input_file,
    positive_float,
)
from motiflens_client.cli._inputs import FastaRecords, read_fasta, read_labels
from motiflens_client.cli._output import fail, job_failed_message
from motiflens_client.errors import JobFailed, MotiflensClientError, Unavailable, from_rpc_error
from motiflens_client.sdk import Client
from motiflens_client.wire.vocabulary import DEFAULT_PORTS

__all__ = [
    "DEFAULT_ADDRESS",
    "EPILOG",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_OK",
    "EXIT_SERVER",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "PROG",
    "CliError",
    "FastaRecords",
    "build_parser",
    "main",
    "read_fasta",
    "read_labels",
]

DEFAULT_ADDRESS = f"127.0.0.1:{DEFAULT_PORTS['trainer']}"

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

#: Every command group's ``register``, in the order of the top-level ``--help``.
COMMANDS: tuple[Callable[[Commands], None], ...] = (
    up.register,
    datasets.register,
    train.register_train,
    train.register_jobs,
    sweeps.register,
    train.register_models,
    interpret.register_filters,
    interpret.register_attribute,
    attributions.register_attributions,
    interpret.register_predict,
    interpret.register_trust,
    motifs.register_tomtom,
    motifs.register_databases,
    motifs.register_discover,
    variants.register,
    experiment.register,
)

#: The service each command talks to, named in the error line of a refused call.
SERVICE_OF = {
    "dataset": "trainer",
    "train": "trainer",
    "jobs": "trainer",
    "sweep": "trainer",
    "models": "trainer",
    "filters": "interpreter",
    "attribute": "interpreter",
    "attributions": "trainer",
    "predict": "interpreter",
    "trust": "interpreter",
    "tomtom": "motifmatch",
    "databases": "motifmatch",
    "motifs": "interpreter",
    "variants": "interpreter",
}
_PORT_OFFSETS = {"trainer": 0, "interpreter": 1, "motifmatch": 2}


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
    service = ""
    args: argparse.Namespace | None = None
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
        service = SERVICE_OF.get(args.command_name.split(" ")[0], "")
        if args.verbose:
            sdk_logger.removeHandler(handler)
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
            sdk_logger.addHandler(handler)
            sdk_logger.setLevel(logging.INFO)
        if args.local_handler is not None:
            return args.local_handler(args)
        with connect(args) as client:
            return args.client_handler(args, client)
    except CliError as error:
        fail(str(error))
        return error.exit_code
    except JobFailed as error:
        fail(job_failed_message(error.job))
        return EXIT_JOB_FAILED
    except ServiceCallFailed as failed:
        return _server_error(failed.error, failed.service, args)
    except MotiflensClientError as error:
        return _server_error(error, service, args)
    except grpc.RpcError as error:  # the SDK wraps these; kept as a safety net
        return _server_error(from_rpc_error(error), service, args)
    except OSError as error:  # an input file that vanished or cannot be read after the checks
        fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
        return EXIT_USAGE
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    finally:
        sdk_logger.removeHandler(handler)
        sdk_logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command tree (read at call time: env defaults)."""
    parser = Parser(
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
        type=input_file,
        metavar="PATH",
        help="TLS with this PEM root certificate (implies --tls)",
    )
    connection.add_argument(
        "--timeout", type=positive_float, default=60.0, help="seconds per call (default %(default)s)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the client's retries to stderr")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (shown on stderr only when it is a terminal, never on stdout)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(commands)
    return parser


# --------------------------------------------------------------------------- connection and errors


def connect(args: argparse.Namespace) -> Client:
    """A :class:`Client` for the connection options."""
    tls: bool | str | None = str(args.ca_cert) if args.ca_cert else (True if args.tls else None)
    interpreter, motifmatch = service_address(args, "interpreter"), service_address(args, "motifmatch")
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


def service_address(args: argparse.Namespace, service: str) -> str:
    """The address of ``service``: its own option, or the ``--address`` port plus its offset."""
    explicit: str | None = getattr(args, f"{service}_address", None)
    if explicit:
        return explicit
    host, colon, port = args.address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise CliError(
            f"--address: expected HOST:PORT, got {args.address!r} (the interpreter and motifmatch "
            "take PORT+1 and PORT+2 unless --interpreter-address/--motifmatch-address are given)"
        )
    return f"{host}:{int(port) + _PORT_OFFSETS[service]}"


def _server_error(error: MotiflensClientError, service: str, args: argparse.Namespace | None) -> int:
    code = getattr(error.code, "name", str(error.code))
    message = f"{code}: {error.message}"
    where = ""
    if service and args is not None:
        try:
            where = f" ({service} at {service_address(args, service)})"
        except CliError:
            where = ""
    if isinstance(error, Unavailable):
        fail(f"{message}{where}; is the stack running? start it with `motiflens up` or pass --address")
        return EXIT_UNAVAILABLE
    if error.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        message += " (raise --timeout for slow calls)"
    fail(f"{message}{where}")
    return EXIT_SERVER
