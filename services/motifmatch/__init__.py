"""MotifMatchService: Tomtom comparison of motifs against JASPAR and uploaded databases.

Run it with ``python -m services.motifmatch`` (settings from the environment, see
:mod:`services.common.config`).
"""
