"""Compare a MEME Tomtom ``tomtom.tsv`` with motiflens's Tomtom on the same motifs (not a test).

A user who has MEME can check us: run MEME, e.g.
``tomtom -evalue -thresh 0.1 -oc out Q.meme TARGETS.meme``, then
``python bench/tomtom_parity.py out/tomtom.tsv Q.meme TARGETS.meme``. This runs
:func:`motiflens.tomtom.tomtom` on the same files with the same distance
(``--dist``, default ed as MEME 5) and reports, for the hits with E-value <=
``--thresh`` (default 0.1):

- recall: the fraction of MEME's (query, target) hits that we report too;
- precision: the fraction of our hits that MEME reports;
- best-hit agreement: the fraction of queries with a MEME hit whose best target is
  ours too (ties in MEME's p-value count as agreement);
- the spread of p-value ratios ours / MEME's over the pairs both report (median,
  5th and 95th percentiles, extremes), and offset/overlap/strand agreement.

MEME's TSV may have been cut by its own threshold (``-thresh``); pass the same
``--thresh`` here. ``TARGETS`` is a MEME file or a JASPAR release name
(``--collection``, ``--taxon`` as for ``python -m motiflens.tomtom``). Hits whose
best alignment MEME restricted with ``-min-overlap`` > 1 are compared as they are
(motiflens always uses ``-min-overlap 1``: only weak, short-overlap hits differ).

Usage: ``python bench/tomtom_parity.py MEME_TOMTOM.tsv QUERIES.meme TARGETS [--dist ed|pearson]``
"""

from __future__ import annotations

import argparse

from motiflens.motifs import motif_database, read_meme
from motiflens.tomtom import DEFAULT_DISTANCE, DISTANCES, tomtom
from motiflens.tomtom_parity import as_rows, parity, read_tomtom_tsv, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("meme_tsv", help="MEME Tomtom's tomtom.tsv")
    parser.add_argument("queries", help="the query MEME file MEME was given")
    parser.add_argument("targets", help="the target MEME file, or a JASPAR release name")
    parser.add_argument("--dist", choices=DISTANCES, default=DEFAULT_DISTANCE)
    parser.add_argument("--thresh", type=float, default=0.1, help="E-value threshold compared (default 0.1)")
    parser.add_argument("--collection", default="CORE")
    parser.add_argument("--taxon", default="vertebrates", help="JASPAR tax group, or 'all'")
    args = parser.parse_args()
    queries = read_meme(args.queries)
    database = motif_database(
        args.targets, collection=args.collection, tax_group=None if args.taxon == "all" else args.taxon
    )
    ours = tomtom(queries, database, evalue_threshold=args.thresh, distance=args.dist)
    meme = read_tomtom_tsv(args.meme_tsv)
    print(f"{len(queries)} queries against {len(database)} targets, -dist {args.dist}")
    print(report(parity(meme, as_rows(ours), args.thresh)))


if __name__ == "__main__":
    main()
