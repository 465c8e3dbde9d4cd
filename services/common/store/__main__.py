"""``python -m services.common.store create-bucket``: make the artifact store's bucket, once.

What deploy/'s Job ``minio-create-bucket`` runs (in the trainer image), so that the cluster
needs no MinIO client image: it waits up to ``--wait`` seconds for the store's server to answer
(MinIO may still be starting), then creates the bucket of ``MOTIFLENS_STORE`` (or ``--store``)
unless it exists. Credentials as for every service (``MOTIFLENS_S3_ACCESS_KEY`` / ``_SECRET_KEY``).

Exit status: 0 when the bucket exists afterwards (made now or before), 1 when the server did not
answer in time or refused (the message says why), 2 for a bad store URL or option.
"""

from __future__ import annotations

import argparse
import sys
import time

from motiflens.errors import InvalidInputError, UnavailableError
from services.common.config import store_url_setting
from services.common.store import open_store

#: Seconds between attempts while the server does not answer.
RETRY_SECONDS = 2.0


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m services.common.store", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-bucket", help="create the store's bucket if it is missing")
    create.add_argument("--store", help="store URL (default: MOTIFLENS_STORE)")
    create.add_argument(
        "--wait", type=float, default=0.0, help="seconds to keep trying while the server does not answer"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.wait <= 24 * 3600:
        parser.error(f"--wait: expected 0 to 86400 seconds, got {args.wait}")
    url = args.store or store_url_setting()
    try:
        store = open_store(url)
    except InvalidInputError as exc:
        print(f"create-bucket: {exc}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.wait
    while True:
        try:
            created = store.create_bucket()
        except UnavailableError as exc:
            if time.monotonic() + RETRY_SECONDS > deadline:
                print(f"create-bucket: {exc}", file=sys.stderr)
                return 1
            print(f"create-bucket: waiting for the store ({exc})", file=sys.stderr)
            time.sleep(RETRY_SECONDS)
            continue
        print(f"create-bucket: {store.url}: {'bucket created' if created else 'bucket already exists'}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
