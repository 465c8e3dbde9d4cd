"""MotifMatchService over a real loopback server, against both store backends (file and S3)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from helpers import make_channel, rpc_error, running_server, scrape_metrics, wait_for_serving
from motiflens_client import Client
from motiflens_client.api import common_pb2, motifmatch_pb2_grpc, pb
from motiflens_client.errors import InvalidArgument

from motiflens.motifs import Motif, jaspar_motif, motif_database, write_meme
from motiflens.tomtom import TSV_COLUMNS, tomtom
from services.common.convert import array_to_tensor, motif_to_proto
from services.common.store import open_store
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server

Code = grpc.StatusCode
ROOT = Path(__file__).resolve().parents[2]

MALFORMED_MEME = """MEME version 4

ALPHABET= ACGT

MOTIF m1
letter-probability matrix: alength= 4 w= 2
0.25 0.25 0.25
0.25 0.25 0.25 0.25
"""


def meme_text(motifs) -> str:
    out = io.StringIO()
    write_meme(motifs, out)
    return out.getvalue()


@pytest.fixture
def stub(store_url):
    store = open_store(store_url)
    servicer = MotifMatchServicer(store)
    with running_server(
        lambda server: add_to_server(servicer, server), service_name=SERVICE_NAME, store=store
    ) as running:
        yield motifmatch_pb2_grpc.MotifMatchServiceStub(running.channel())


@pytest.fixture(scope="module")
def max_motif() -> Motif:
    return jaspar_motif("MA0058.3", "JASPAR2016")


# --------------------------------------------------------------------------- Compare


def test_compare_motif_list_finds_itself_in_jaspar2016(stub, max_motif):
    request = pb.CompareRequest(
        motifs=pb.MotifList(motifs=[motif_to_proto(max_motif)]),
        database=pb.DatabaseRef(database_id="JASPAR2016"),
    )
    response = stub.Compare(request)
    assert response.num_targets == 519
    best = response.hits[0]
    assert (best.query_id, best.target_id, best.target_name) == ("MA0058.3", "MA0058.3", "MAX")
    assert best.e_value < 1e-3 and best.offset == 0 and best.overlap == 10 and best.orientation == "+"
    assert all(hit.e_value <= 0.1 for hit in response.hits)
    # The service returns exactly what the core computes.
    expected = tomtom([max_motif], motif_database("JASPAR2016"))
    assert [hit.target_id for hit in response.hits] == [hit.target_id for hit in expected]
    np.testing.assert_allclose([hit.p_value for hit in response.hits], [hit.p_value for hit in expected])

    header, *rows = response.tsv.split("\n\n")[0].splitlines()
    assert tuple(header.split("\t")) == TSV_COLUMNS
    assert len(rows) == len(response.hits)
    assert rows[0].split("\t")[:3] == ["MA0058.3", "MA0058.3", "0"]


def test_compare_distance_defaults_to_meme5_euclidean_and_pearson_is_an_option(stub, max_motif):
    database = motif_database("JASPAR2016")
    motifs = pb.MotifList(motifs=[motif_to_proto(max_motif)])
    for distance, name in [
        (pb.Distance.Value("DISTANCE_UNSPECIFIED"), "ed"),
        (pb.Distance.Value("DISTANCE_EUCLIDEAN"), "ed"),
        (pb.Distance.Value("DISTANCE_PEARSON"), "pearson"),
    ]:
        response = stub.Compare(pb.CompareRequest(motifs=motifs, distance=distance, evalue_threshold=10))
        expected = tomtom([max_motif], database, evalue_threshold=10, distance=name)
        assert [hit.target_id for hit in response.hits] == [hit.target_id for hit in expected]
        np.testing.assert_allclose([h.p_value for h in response.hits], [h.p_value for h in expected])
        assert pb.Distance.Name(response.distance) == (
            "DISTANCE_PEARSON" if name == "pearson" else "DISTANCE_EUCLIDEAN"
        )
        assert f"-dist {name} -min-overlap 1" in response.tsv
    ed = stub.Compare(pb.CompareRequest(motifs=motifs, evalue_threshold=10))
    pearson = stub.Compare(pb.CompareRequest(motifs=motifs, evalue_threshold=10, distance=2))
    assert [h.p_value for h in ed.hits] != [h.p_value for h in pearson.hits]  # two statistics
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=motifs, distance=7))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "distance: expected DISTANCE_EUCLIDEAN or DISTANCE_PEARSON" in error.details()
    filters = pb.MotifList(motifs=[motif_to_proto(Motif("filter0", "", max_motif.pwm, nsites=40))])
    matched = stub.MatchFilters(pb.MatchFiltersRequest(motifs=filters, distance=2))
    assert pb.Distance.Name(matched.distance) == "DISTANCE_PEARSON"
    error = rpc_error(stub.MatchFilters, pb.MatchFiltersRequest(motifs=filters, distance=-1))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "distance" in error.details()


def test_compare_meme_text_defaults_to_jaspar2016(stub, max_motif):
    sp1 = jaspar_motif("MA0079.3", "JASPAR2016")
    response = stub.Compare(pb.CompareRequest(meme=meme_text([max_motif, sp1])))
    assert response.num_targets == 519
    best = {}
    for hit in response.hits:
        best.setdefault(hit.query_id, hit)
    assert best["MA0058.3"].target_id == "MA0058.3" and best["MA0058.3"].e_value < 1e-3
    assert best["MA0079.3"].target_id == "MA0079.3" and best["MA0079.3"].e_value < 1e-3

    # A q-value threshold filters on q instead of E; a tighter one keeps fewer hits.
    strict = stub.Compare(pb.CompareRequest(meme=meme_text([max_motif]), qvalue_threshold=1e-6))
    assert 1 <= len(strict.hits) < len([h for h in response.hits if h.query_id == "MA0058.3"])
    assert all(hit.q_value <= 1e-6 for hit in strict.hits)


def test_compare_trim_cuts_flanks_and_skips_flat_queries(stub, max_motif):
    padded = np.vstack([np.full((6, 4), 0.25), max_motif.pwm, np.full((6, 4), 0.25)])
    queries = [Motif("padded", "", padded), Motif("flat", "", np.full((8, 4), 0.25))]
    request = pb.CompareRequest(motifs=pb.MotifList(motifs=[motif_to_proto(m) for m in queries]), trim=True)
    response = stub.Compare(request)
    assert {hit.query_id for hit in response.hits} == {"padded"}
    best = response.hits[0]
    assert best.target_id == "MA0058.3"
    # Cut to the span above 0.5 bits plus 3 columns each side, as the core trims.
    assert best.query_consensus == queries[0].trim(0.5, 3).consensus
    assert len(best.query_consensus) < padded.shape[0]


# --------------------------------------------------------------------------- MatchFilters


def test_match_filters_only_filter0_matches(stub, max_motif):
    filters = [
        Motif("filter0", "", max_motif.pwm),
        Motif("filter1", "", np.full((19, 4), 0.25)),  # untrimmable: skipped, still counted
    ]
    request = pb.MatchFiltersRequest(
        motifs=pb.MotifList(motifs=[motif_to_proto(m) for m in filters]),
        num_filters=4,
        ground_truth_map=pb.GroundTruthMap.Value("GROUND_TRUTH_MAP_TASK1"),
    )
    response = stub.MatchFilters(request)
    assert response.ground_truth == "task1"
    assert response.match_fraction == pytest.approx(1 / 4)
    assert response.match_any_fraction == pytest.approx(1 / 4)
    assert list(response.covered_tfs) == ["MAX"]
    assert [(m.filter_index, list(m.tfs)) for m in response.matches] == [(0, ["MAX"])]
    assert response.hits and {hit.query_id for hit in response.hits} == {"filter0"}

    # num_filters unset: the number of queries is the denominator; custom ground truth.
    custom = pb.MatchFiltersRequest(
        meme=meme_text(filters),
        ground_truth=[pb.GroundTruthEntry(tf="Myc-family", motif_ids=["MA0058.3"])],
    )
    response = stub.MatchFilters(custom)
    assert response.match_fraction == pytest.approx(1 / 2) and response.ground_truth == "request"
    assert list(response.covered_tfs) == ["Myc-family"]

    # No ground truth named (e.g. filters of a ChIP-seq model): no ground-truth fraction at
    # all, never the Task 1 map's silently; the any-database fraction is still there.
    bare = stub.MatchFilters(pb.MatchFiltersRequest(meme=meme_text(filters), num_filters=4))
    assert not bare.HasField("match_fraction") and bare.ground_truth == ""
    assert list(bare.covered_tfs) == [] and list(bare.matches) == []
    assert bare.match_any_fraction == pytest.approx(1 / 4)
    both = pb.MatchFiltersRequest(
        meme=meme_text(filters),
        ground_truth=[pb.GroundTruthEntry(tf="MAX", motif_ids=["MA0058.3"])],
        ground_truth_map=pb.GroundTruthMap.Value("GROUND_TRUTH_MAP_TASK1"),
    )
    error = rpc_error(stub.MatchFilters, both)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "not both" in error.details()
    error = rpc_error(stub.MatchFilters, pb.MatchFiltersRequest(meme=meme_text(filters), ground_truth_map=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "ground_truth_map" in error.details()


def test_match_filters_validation(stub, max_motif):
    not_a_filter = pb.MatchFiltersRequest(motifs=pb.MotifList(motifs=[motif_to_proto(max_motif)]))
    error = rpc_error(stub.MatchFilters, not_a_filter)
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details() == "motifs[0].id: expected 'filter<index>', got 'MA0058.3'"

    too_high = pb.MatchFiltersRequest(
        motifs=pb.MotifList(motifs=[motif_to_proto(Motif("filter7", "", max_motif.pwm))]), num_filters=4
    )
    error = rpc_error(stub.MatchFilters, too_high)
    assert error.code() == Code.INVALID_ARGUMENT and "outside 0..3; set num_filters" in error.details()

    duplicate_tf = pb.MatchFiltersRequest(
        motifs=pb.MotifList(motifs=[motif_to_proto(Motif("filter0", "", max_motif.pwm))]),
        ground_truth=[
            pb.GroundTruthEntry(tf="MAX", motif_ids=["a"]),
            pb.GroundTruthEntry(tf="MAX", motif_ids=["b"]),
        ],
    )
    error = rpc_error(stub.MatchFilters, duplicate_tf)
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("ground_truth[1].tf:")


# --------------------------------------------------------------------------- UploadDatabase and ListDatabases


def test_upload_then_list_then_compare_against_upload(stub, max_motif):
    targets = [max_motif, jaspar_motif("MA0079.3", "JASPAR2016"), jaspar_motif("MA0083.3", "JASPAR2016")]
    info = stub.UploadDatabase(pb.UploadDatabaseRequest(name="mini", meme=meme_text(targets))).database
    assert info.database_id.startswith("db-") and len(info.database_id) == 35
    assert (info.name, info.num_motifs, info.source, info.collection) == ("mini", 3, "upload", "")

    listed = stub.ListDatabases(pb.ListDatabasesRequest()).databases
    by_id = {database.database_id: database for database in listed}
    assert by_id[info.database_id] == info
    jaspar2016 = by_id["JASPAR2016"]
    assert (jaspar2016.num_motifs, jaspar2016.source, jaspar2016.collection, jaspar2016.tax_group) == (
        519,
        "jaspar",
        "CORE",
        "vertebrates",
    )
    assert {"JASPAR2014", "JASPAR2016", "JASPAR2026"} <= set(by_id)

    request = pb.CompareRequest(
        motifs=pb.MotifList(motifs=[motif_to_proto(max_motif)]),
        database=pb.DatabaseRef(database_id=info.database_id),
        evalue_threshold=10,
    )
    response = stub.Compare(request)
    assert response.num_targets == 3
    assert response.hits[0].target_id == "MA0058.3" and response.hits[0].target_name == "MAX"

    error = rpc_error(
        stub.Compare,
        pb.CompareRequest(
            meme=meme_text([max_motif]),
            database=pb.DatabaseRef(database_id=info.database_id, collection="CORE"),
        ),
    )
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("database.collection:")


def test_malformed_meme_is_invalid_argument_with_line(stub):
    error = rpc_error(stub.UploadDatabase, pb.UploadDatabaseRequest(name="bad", meme=MALFORMED_MEME))
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details() == "meme: line 7: expected 4 probabilities (A C G T), got 3"
    listed = stub.ListDatabases(pb.ListDatabasesRequest()).databases
    assert [d for d in listed if d.source == "upload"] == []  # nothing half-stored

    error = rpc_error(stub.Compare, pb.CompareRequest(meme=MALFORMED_MEME))
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("meme: line 7:")
    error = rpc_error(stub.UploadDatabase, pb.UploadDatabaseRequest(name="", meme=MALFORMED_MEME))
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("name:")


# --------------------------------------------------------------------------- through the SDK

# A MEME 5 file as STREME/meme2meme write it: the DNA alphabet as a block, the core symbols
# listed T/A first (MEME orders the columns by the sorted symbols, A C G T, all the same).
MEME5_HEADER = """MEME version 5.5.8 (Release date: Thu May 15 15:01:46 2025 -0700)

ALPHABET "DNA" DNA-LIKE
T "Thymine" 008000 ~ A "Adenine" CC0000
C "Cytosine" 0000CC ~ G "Guanine" FFB300
N "Any base" = ACGT  # ambiguity codes are allowed and ignored
U = T
END ALPHABET

"""


@pytest.fixture
def sdk(tmp_path):
    """A motiflens_client.Client whose motifmatch address is a real server on loopback (file store)."""
    store = open_store((tmp_path / "store").as_uri())
    servicer = MotifMatchServicer(store)
    with running_server(
        lambda server: add_to_server(servicer, server), service_name=SERVICE_NAME, store=store
    ) as running:
        address = f"127.0.0.1:{running.port}"
        with Client(address, interpreter_address=address, motifmatch_address=address, timeout=120) as client:
            yield client


def test_sdk_tomtom_hits_carry_the_tf_name_and_the_tsv_stays_memes(sdk):
    ctcf = jaspar_motif("MA0139.1", "JASPAR2016")
    query = 0.7 * ctcf.pwm + 0.3 * 0.25  # CTCF-like: the JASPAR matrix flattened towards uniform
    result = sdk.tomtom([("ctcf_like", query)])
    best = min(result.hits, key=lambda hit: hit.p_value)
    assert (best.query_id, best.target_id, best.target_name) == ("ctcf_like", "MA0139.1", "CTCF")
    assert best.e_value < 1e-6 and best.offset == 0 and best.orientation == "+"
    assert all(hit.target_name for hit in result.hits)  # every JASPAR motif has a TF name
    header, *rows = result.tsv.split("\n\n")[0].splitlines()
    assert tuple(header.split("\t")) == TSV_COLUMNS  # MEME's ten columns, no name column
    assert [len(row.split("\t")) for row in rows] == [len(TSV_COLUMNS)] * len(result.hits)
    assert "CTCF" not in result.tsv


def test_sdk_uploads_a_meme5_alphabet_block_database_and_names_its_hits(sdk):
    ctcf, max_motif = jaspar_motif("MA0139.1", "JASPAR2016"), jaspar_motif("MA0058.3", "JASPAR2016")
    text = MEME5_HEADER + meme_text([ctcf, max_motif]).split("\n\n", 4)[4]  # the MOTIF blocks
    info = sdk.upload_database("meme5", text)
    assert info.num_motifs == 2
    result = sdk.tomtom([("max_query", max_motif.pwm)], database=info.database_id, evalue_threshold=10)
    best = min(result.hits, key=lambda hit: hit.p_value)
    assert (best.target_id, best.target_name, best.offset, best.orientation) == ("MA0058.3", "MAX", 0, "+")
    assert result.num_targets == 2
    rna = text.replace('"DNA" DNA-LIKE', '"RNA" RNA-LIKE')
    with pytest.raises(InvalidArgument, match=r"meme: line 3: alphabet: an RNA-LIKE alphabet block"):
        sdk.upload_database("rna", rna)


# --------------------------------------------------------------------------- errors


def test_unknown_database_is_not_found(stub, max_motif):
    queries = pb.MotifList(motifs=[motif_to_proto(max_motif)])
    error = rpc_error(
        stub.Compare, pb.CompareRequest(motifs=queries, database=pb.DatabaseRef(database_id="JASPAR1999"))
    )
    assert error.code() == Code.NOT_FOUND
    assert error.details().startswith("database.database_id: unknown database 'JASPAR1999'; known: JASPAR")
    assert "JASPAR2016" in error.details() and "or an uploaded id 'db-...'" in error.details()

    absent = "db-" + "0" * 32
    error = rpc_error(
        stub.Compare, pb.CompareRequest(motifs=queries, database=pb.DatabaseRef(database_id=absent))
    )
    assert error.code() == Code.NOT_FOUND and absent in error.details()

    error = rpc_error(
        stub.Compare, pb.CompareRequest(motifs=queries, database=pb.DatabaseRef(database_id="db-xyz"))
    )
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("database.database_id:")

    error = rpc_error(
        stub.Compare, pb.CompareRequest(motifs=queries, database=pb.DatabaseRef(tax_group="martians"))
    )
    assert error.code() == Code.NOT_FOUND and "tax_group 'martians'" in error.details()


def test_query_validation_names_the_field(stub, max_motif):
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=pb.MotifList()))
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details() == "motifs: expected at least one motif, got none"
    error = rpc_error(stub.Compare, pb.CompareRequest())
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("queries:")

    good = motif_to_proto(max_motif)
    short = pb.Motif(
        id="short", pwm=common_pb2.Tensor(dtype=common_pb2.DTYPE_FLOAT64, shape=[2, 4], data=b"\0" * 60)
    )
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=pb.MotifList(motifs=[good, short])))
    assert error.code() == Code.INVALID_ARGUMENT
    assert error.details() == (
        "motifs[1].pwm.data: expected 64 bytes (shape [2, 4] of DTYPE_FLOAT64, 8 bytes each), got 60"
    )
    bad_request = error_details_pb2.BadRequest()
    rpc_status.from_call(error).details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "motifs[1].pwm.data"

    unset = pb.Motif(id="unset", pwm=common_pb2.Tensor(shape=[1, 4], data=b"\0" * 32))
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=pb.MotifList(motifs=[unset])))
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("motifs[0].pwm.dtype: unset")

    wide = pb.Motif(id="wide", pwm=array_to_tensor(np.full((3, 5), 0.2)))
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=pb.MotifList(motifs=[wide])))
    assert error.details() == "motifs[0].pwm: expected shape (W, 4), W >= 1, got (3, 5)"

    error = rpc_error(
        stub.Compare, pb.CompareRequest(motifs=pb.MotifList(motifs=[good]), evalue_threshold=-1)
    )
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("evalue_threshold:")
    error = rpc_error(stub.Compare, pb.CompareRequest(motifs=pb.MotifList(motifs=[good]), qvalue_threshold=2))
    assert error.code() == Code.INVALID_ARGUMENT and error.details().startswith("qvalue_threshold:")


# --------------------------------------------------------------------------- the entry point


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("store_url", ["file"], indirect=True)
def test_python_m_services_motifmatch_serves_and_stops_on_sigterm(store_url):
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "MOTIFLENS_MOTIFMATCH_PORT": str(port),
        "MOTIFLENS_MOTIFMATCH_METRICS_PORT": str(metrics_port),
        "MOTIFLENS_STORE": store_url,
        "MOTIFLENS_GRACE_SECONDS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.motifmatch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        channel = make_channel(port)
        wait_for_serving(channel, SERVICE_NAME, timeout=60)
        stub = motifmatch_pb2_grpc.MotifMatchServiceStub(channel)
        error = rpc_error(stub.UploadDatabase, pb.UploadDatabaseRequest(name="bad", meme=MALFORMED_MEME))
        assert error.code() == Code.INVALID_ARGUMENT
        text = scrape_metrics(metrics_port)
        assert (
            'motiflens_grpc_requests_total{grpc_code="INVALID_ARGUMENT",grpc_method="UploadDatabase",'
            f'grpc_service="{SERVICE_NAME}"}} 1.0'
        ) in text
        channel.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    entries = [json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in entries]
    assert any("listening on 127.0.0.1" in message for message in messages)
    assert "received SIGTERM" in messages and "server stopped" in messages
    access = [entry for entry in entries if entry.get("method", "").endswith("/UploadDatabase")]
    assert access and access[0]["code"] == "INVALID_ARGUMENT" and access[0]["request_id"]


def test_bad_setting_exits_2_naming_the_variable():
    env = {**os.environ, "MOTIFLENS_MOTIFMATCH_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "services.motifmatch"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "MOTIFLENS_MOTIFMATCH_PORT" in result.stderr
