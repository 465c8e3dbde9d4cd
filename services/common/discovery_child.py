"""The child process of DiscoverMotifs: TF-MoDISco on the arrays in a work folder.

``python -m services.common.discovery_child MEMORY_BYTES FOLDER`` limits its own
address space, reads ``inputs.npz`` (one_hot and hypothetical, (N, L, 4) float32) and
``settings.json``, runs :func:`motiflens.discovery.discover_motifs`, and writes
``patterns.npz`` or, for a refusal, ``error.json`` (kind and message). It imports
neither TensorFlow nor gRPC, so it starts in about a second; see
:mod:`services.common.discovery` for the parent.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiflens.discovery import DiscoverySettings, Pattern, Seqlet, discover_motifs
from motiflens.errors import FailedPreconditionError, InvalidInputError, ResourceExhaustedError

INPUT_FILE, SETTINGS_FILE, RESULT_FILE, ERROR_FILE = (
    "inputs.npz",
    "settings.json",
    "patterns.npz",
    "error.json",
)


def write_patterns(patterns: Sequence[Pattern], path: Path) -> None:
    """Patterns to one NPZ: names, signs, and per pattern its matrices and (S, 4) seqlet rows."""
    arrays: dict[str, np.ndarray] = {
        "names": np.array([p.name for p in patterns]),
        "signs": np.array([p.sign for p in patterns]),
    }
    for index, pattern in enumerate(patterns):
        arrays[f"pwm_{index}"] = pattern.pwm
        arrays[f"cwm_{index}"] = pattern.cwm
        arrays[f"hypothetical_cwm_{index}"] = pattern.hypothetical_cwm
        arrays[f"seqlets_{index}"] = np.array(
            [(s.sequence, s.start, s.end, int(s.reverse_complement)) for s in pattern.seqlets], dtype=np.int64
        ).reshape(-1, 4)
    np.savez(path, allow_pickle=False, **arrays)


def read_patterns(path: Path) -> list[Pattern]:
    """The patterns :func:`write_patterns` wrote."""
    with np.load(path, allow_pickle=False) as npz:
        return [
            Pattern(
                name=str(name),
                sign=str(sign),
                pwm=npz[f"pwm_{index}"],
                cwm=npz[f"cwm_{index}"],
                hypothetical_cwm=npz[f"hypothetical_cwm_{index}"],
                seqlets=tuple(
                    Seqlet(int(a), int(b), int(c), bool(d)) for a, b, c, d in npz[f"seqlets_{index}"]
                ),
            )
            for index, (name, sign) in enumerate(zip(npz["names"], npz["signs"], strict=True))
        ]


def _child(argv: list[str]) -> int:
    memory, work = argv
    limit = int(memory)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    folder = Path(work)
    try:
        with np.load(folder / INPUT_FILE, allow_pickle=False) as npz:
            one_hot, hypothetical = npz["one_hot"], npz["hypothetical"]
        settings = DiscoverySettings(**json.loads((folder / SETTINGS_FILE).read_text()))
        patterns = discover_motifs(one_hot, hypothetical, settings)
    except (InvalidInputError, FailedPreconditionError, ResourceExhaustedError) as exc:
        (folder / ERROR_FILE).write_text(json.dumps({"kind": type(exc).__name__, "message": str(exc)}))
        return 1
    except MemoryError:
        message = f"TF-MoDISco needed more than {limit >> 20} MiB (MOTIFLENS_DISCOVERY_MEMORY_MB)"
        (folder / ERROR_FILE).write_text(json.dumps({"kind": "ResourceExhaustedError", "message": message}))
        return 1
    write_patterns(patterns, folder / RESULT_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
