"""A client's VCF read in a child process: htslib (C) never parses hostile bytes in a server.

:func:`read_vcf_isolated` runs ``python -m services.common.vcf_child MEMORY MAX PATH OUT``
with an address-space limit and a timeout; the child reads the file with
:func:`motiflens.variants.read_vcf` and writes the alleles as JSON lines (or the error).
A malformed file is the child's InvalidInputError, re-raised here with its message; a
child killed by a signal (a parser crash), over its memory or past its time is
InvalidInputError too, saying so, and the server goes on.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from motiflens.errors import InvalidInputError
from motiflens.variants import Variant

#: The child's address space and time (the alleles of 1,000,000 records fit easily).
MEMORY_BYTES = 2 * 1024 * 1024 * 1024
TIMEOUT_SECONDS = 300


def read_vcf_isolated(path: Path | str, *, max_records: int, field_name: str = "vcf") -> list[Variant]:
    """:func:`motiflens.variants.read_vcf` of ``path``, run in a memory- and time-limited child.

    Raises
    ------
    InvalidInputError
        A malformed VCF (the child's message, naming the field and record), or a file the
        parser could not finish (crashed, out of memory, out of time).
    """
    with tempfile.TemporaryDirectory(prefix="motiflens-vcf-") as folder:
        out = Path(folder) / "alleles.jsonl"
        command = [sys.executable, "-m", "services.common.vcf_child", str(MEMORY_BYTES), str(max_records)]
        command += [str(path), str(out), field_name]
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise InvalidInputError(
                f"{field_name}: reading the VCF took more than {TIMEOUT_SECONDS} s", field=field_name
            ) from None
        if done.returncode == 2:
            message = json.loads(done.stdout.decode() or "{}").get("message", "unreadable VCF")
            raise InvalidInputError(message, field=field_name)
        if done.returncode != 0:
            raise InvalidInputError(
                f"{field_name}: the VCF parser stopped on this file (exit {done.returncode}: crashed or out "
                f"of its {MEMORY_BYTES >> 20} MiB); check the file with bcftools view",
                field=field_name,
            )
        with out.open() as handle:
            return [Variant(**json.loads(line)) for line in handle]


def _child(argv: list[str]) -> int:
    memory, max_records, path, out, field_name = argv
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    from motiflens.variants import read_vcf

    try:
        variants = read_vcf(path, max_records=int(max_records), field_name=field_name)
    except InvalidInputError as exc:
        print(json.dumps({"message": str(exc)}))
        return 2
    with open(out, "w") as handle:
        for variant in variants:
            handle.write(json.dumps(asdict(variant)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
