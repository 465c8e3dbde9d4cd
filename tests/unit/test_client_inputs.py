"""The client's one input reader (motiflens_client.sdk.inputs): FASTA files and label tables."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from motiflens_client.errors import InvalidArgument
from motiflens_client.sdk import inputs

FASTA = ">r1 first record\nACGTAC\nGT\n\n>r2\nacgtacgt\n>r3 x\nNNNNACGT\n"


def test_fasta_from_text_plain_file_and_gzip_file_are_the_same(tmp_path: Path):
    plain = tmp_path / "a.fa"
    plain.write_text(FASTA)
    packed = tmp_path / "a.fa.gz"
    packed.write_bytes(gzip.compress(FASTA.encode()))
    odd_name = tmp_path / "gzipped.fasta"  # gzip is found by content, not by name
    odd_name.write_bytes(gzip.compress(FASTA.encode()))
    expected = inputs.FastaRecords(ids=("r1", "r2", "r3"), sequences=("ACGTACGT", "ACGTACGT", "NNNNACGT"))
    for source in (FASTA, plain, str(plain), packed, odd_name):
        assert inputs.read_fasta(source) == expected
    assert expected.to_text() == ">r1\nACGTACGT\n>r2\nACGTACGT\n>r3\nNNNNACGT\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("ACGT\n>r1\nACGT\n", "fasta:1: sequence text before the first '>' header"),
        (">r1\nACGX\n", "fasta:2: invalid character 'X' at column 4 in record 'r1'"),
        (
            ">r1\nACGT\n>r2\nACG\n",
            "fasta:3: record 'r2' has 3 nt; all records must have the length of the first",
        ),
        (">r1\n>r2\nACGT\n", "fasta:1: record 'r1' has no sequence"),
        ("", "fasta: no FASTA record found"),
    ],
)
def test_bad_fasta_names_the_line(text, message):
    with pytest.raises(InvalidArgument) as info:
        inputs.read_fasta(text)
    assert message in info.value.message


def test_a_truncated_gzip_fasta_is_refused_clearly(tmp_path: Path):
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(gzip.compress((FASTA * 50).encode())[:-30])
    with pytest.raises(InvalidArgument, match="cut.fa.gz: cannot read: a corrupt or truncated gzip file"):
        inputs.read_fasta(path)


def test_labels_in_record_order_from_array_npy_and_text(tmp_path: Path):
    values = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    np.save(tmp_path / "y.npy", values)
    (tmp_path / "y.txt").write_text("1 0\n0 1\n1 1\n")
    (tmp_path / "y.csv").write_text("1,0\n0,1\n1,1\n")
    for source in (values, tmp_path / "y.npy", tmp_path / "y.txt", str(tmp_path / "y.csv")):
        labels = inputs.read_labels(source, ids=("a", "b", "c"))
        np.testing.assert_array_equal(labels.values, values)
        assert labels.names == ()
    assert inputs.read_labels(np.array([1, 0, 1])).values.shape == (3, 1)


def test_a_tsv_keyed_by_record_id_with_a_header_follows_the_fasta_order(tmp_path: Path):
    table = tmp_path / "labels.tsv.gz"
    table.write_bytes(gzip.compress(b"id\tCTCF\tREST\nr3\t1\t0\nextra\t0\t0\nr1\t0\t1\nr2\t1\t1\n"))
    labels = inputs.read_labels(table, ids=("r1", "r2", "r3"))
    np.testing.assert_array_equal(labels.values, [[0, 1], [1, 1], [1, 0]])
    assert labels.names == ("CTCF", "REST")
    # A header on a table in record order names the columns too.
    ordered = tmp_path / "ordered.tsv"
    ordered.write_text("CTCF\tREST\n0\t1\n1\t1\n")
    assert inputs.read_labels(ordered, ids=("r1", "r2")).names == ("CTCF", "REST")


@pytest.mark.parametrize(
    "content, ids, message",
    [
        ("r1\t1\nr2\t0\n", ("r1", "r2", "r3"), "no label row for 1 FASTA record(s): 'r3'"),
        ("r1\t1\nr1\t0\n", ("r1",), ":2: record id 'r1' appears twice"),
        ("r1\t1\nr2\t0\n", None, "rows are keyed by record id (first column); give the FASTA records too"),
        ("1\t0\n0\n", ("a", "b"), ":2: 1 columns; the first row has 2"),
        ("1\n0\n", ("a", "b", "c"), "2 label rows but the FASTA has 3 records"),
        ("a\tb\n1\t2\t3\n", ("x",), "the header names 2 columns but rows hold 3"),
    ],
)
def test_bad_label_tables_say_what_is_wrong(tmp_path: Path, content, ids, message):
    path = tmp_path / "labels.tsv"
    path.write_text(content)
    with pytest.raises(InvalidArgument) as info:
        inputs.read_labels(path, ids=ids)
    assert message in info.value.message


def test_labels_that_are_not_a_file_or_numbers_are_refused(tmp_path: Path):
    with pytest.raises(InvalidArgument, match="labels: no such file"):
        inputs.read_labels("labels.txt", ids=("a",))
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(InvalidArgument, match="cannot read labels"):
        inputs.read_labels(tmp_path / "bad.npy")
