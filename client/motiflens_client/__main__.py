"""``python -m motiflens_client``: the ``motiflens`` command (see :mod:`motiflens_client.cli`)."""

import sys

from motiflens_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
