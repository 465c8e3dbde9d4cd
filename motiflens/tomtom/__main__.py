"""``python -m motiflens.tomtom``: see :func:`motiflens.tomtom.cli.main`."""

from motiflens.tomtom.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
