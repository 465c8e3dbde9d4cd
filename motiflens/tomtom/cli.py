"""Command line ``python -m motiflens.tomtom QUERIES.meme TARGET``: MEME Tomtom's TSV on stdout."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from motiflens.errors import MotiflensError
from motiflens.motifs import motif_database, read_meme
from motiflens.tomtom.scoring import DEFAULT_DISTANCE, DISTANCES
from motiflens.tomtom.tsv import format_tomtom_tsv


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m motiflens.tomtom QUERIES.meme TARGET``, TSV on stdout.

    Returns
    -------
    int
        0 on success, 2 on bad input (with one ``error: ...`` line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m motiflens.tomtom",
        description=(
            "Compare query motifs with a motif database the way MEME Tomtom 5.5 does with "
            "'-evalue' and its defaults (-dist ed -min-overlap 1, both strands), and print tomtom.tsv."
        ),
    )
    parser.add_argument("queries", help="MEME motif file of query motifs")
    parser.add_argument(
        "target",
        help="MEME (or JASPAR-format) motif file, or a JASPAR release name such as JASPAR2016",
    )
    parser.add_argument(
        "--thresh", type=float, default=0.1, help="report hits with E-value (or q-value) <= this; default 0.1"
    )
    parser.add_argument(
        "--qvalue", action="store_true", help="apply --thresh to q-values instead of E-values"
    )
    parser.add_argument(
        "--dist",
        choices=DISTANCES,
        default=DEFAULT_DISTANCE,
        help="column distance, as MEME's -dist: ed (Euclidean, MEME 5's default) or pearson; default ed",
    )
    parser.add_argument("--collection", default="CORE", help="JASPAR collection for a release; default CORE")
    parser.add_argument(
        "--taxon", default="vertebrates", help="JASPAR tax group for a release, or 'all'; default vertebrates"
    )
    args = parser.parse_args(argv)
    # The comparison lives in the package, which imports this module for ``main``.
    from motiflens.tomtom import tomtom

    try:
        queries = read_meme(args.queries)
        tax_group = None if args.taxon == "all" else args.taxon
        database = motif_database(args.target, collection=args.collection, tax_group=tax_group)
        if args.qvalue:
            hits = tomtom(queries, database, qvalue_threshold=args.thresh, distance=args.dist)
        else:
            hits = tomtom(queries, database, evalue_threshold=args.thresh, distance=args.dist)
    except (MotiflensError, OSError) as error:
        message = " ".join(str(error).split())
        sys.stderr.write(f"error: {message}\n")
        return 2
    arguments = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(
        format_tomtom_tsv(
            hits,
            command_line=shlex.join(["python", "-m", "motiflens.tomtom", *arguments]),
            distance=args.dist,
        )
    )
    return 0
