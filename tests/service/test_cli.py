"""The ``motiflens`` command against a real local stack (three service processes, a file store).

Commands run in-process through ``main(argv)`` (output captured), plus real runs of
the installed console script. One stack and one trained model serve the module.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import make_settings, running_server
from motiflens_client.cli import main

from motiflens.motifs import Motif, jaspar_motif, read_meme, write_meme
from motiflens.tomtom import TSV_COLUMNS
from services.common.store import open_store
from services.launcher import start_suite, stop_suite
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server

LENGTH = 200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATASET_ID = re.compile(r"^ds-[0-9a-f]{32}$")
UNKNOWN_MODEL = "model-" + "0" * 32


@dataclass
class Run:
    """Exit code and captured output of one CLI run."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one stderr line of a failed run."""
        lines = self.err.splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("motiflens: error: "), lines[0]
        return lines[0]


def run_cli(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


def free_base_port() -> int:
    """A port P with P, P + 1 and P + 2 free on loopback."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 65000:
            continue
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(3):
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", base + offset))
            except OSError:
                continue
            return base
    raise RuntimeError("no three consecutive free ports")


def random_sequences(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(count)]


def one_hot(sequences: list[str]) -> np.ndarray:
    index = {base: i for i, base in enumerate("ACGT")}
    X = np.zeros((len(sequences), LENGTH, 4), np.float32)
    for row, sequence in enumerate(sequences):
        X[row, np.arange(LENGTH), [index[base] for base in sequence]] = 1.0
    return X


def write_fasta(path: Path, sequences: list[str], width: int = 60) -> Path:
    with path.open("w") as handle:
        for i, sequence in enumerate(sequences):
            handle.write(f">seq{i} description\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start : start + width] + "\n")
    return path


def write_hdf5(path: Path, splits: dict[str, np.ndarray], *, transpose: bool, num_targets: int = 2) -> Path:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as handle:
        for split, X in splits.items():
            handle.create_dataset(f"X_{split}", data=np.transpose(X, (0, 2, 1)) if transpose else X)
            labels = rng.integers(0, 2, (len(X), num_targets)).astype(np.float32)
            handle.create_dataset(f"Y_{split}", data=labels)
    return path


@dataclass
class Stack:
    address: str
    interpreter: str
    motifmatch: str


@dataclass
class Trained:
    dataset_id: str
    job_id: str
    model_id: str
    create: Run
    train: Run


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    env = dict(os.environ)
    for service in ("TRAINER", "INTERPRETER", "MOTIFMATCH"):
        env[f"MOTIFLENS_{service}_METRICS_PORT"] = "-1"
    env.pop("MOTIFLENS_TOKEN", None)
    store = tmp_path_factory.mktemp("cli-store")
    running = start_suite(store=store.as_uri(), base_port=free_base_port(), timeout=180, env=env)
    try:
        yield Stack(*(service.address for service in running))
    finally:
        stop_suite(running)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    monkeypatch.delenv("MOTIFLENS_ADDRESS", raising=False)
    monkeypatch.delenv("MOTIFLENS_TOKEN", raising=False)


@pytest.fixture
def cli(stack):
    """``cli(*argv)``: run the command against the module's stack.

    Calls get 600 s, not the CLI's 60 s default: a first Tomtom (JASPAR load and
    numba compile) on a machine whose cores are all busy can take longer than 60 s.
    """
    return lambda *argv: run_cli("--address", stack.address, "--timeout", "600", *argv)


@pytest.fixture(scope="module")
def trained(stack) -> Trained:
    """A Task 1 data set and a cnn_local/exponential model, both made through the CLI."""
    create = run_cli(
        "--address",
        stack.address,
        "dataset",
        "create",
        "--task",
        "1",
        "--num-sequences",
        "600",
        "--seed",
        "3",
    )
    assert create.code == 0, create.err
    dataset_id = create.out.strip()
    train = run_cli(
        "--address",
        stack.address,
        "train",
        dataset_id,
        "--architecture",
        "cnn_local",
        "--activation",
        "exponential",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--name",
        "cli-test",
    )
    assert train.code == 0, train.err
    fields = dict(line.split(None, 1) for line in train.out.splitlines())
    return Trained(dataset_id, fields["job_id"], fields["model_id"], create, train)


@pytest.fixture(scope="module")
def fasta_and_hdf5(tmp_path_factory) -> tuple[list[str], Path, Path, Path]:
    """The same 5 random sequences as FASTA, as X_valid (N, 4, L) and as X_test (N, L, 4).

    The HDF5 files have the paper's full layout (``--hdf5`` uploads them as data sets);
    the other splits hold other sequences.
    """
    folder = tmp_path_factory.mktemp("cli-inputs")
    sequences = random_sequences(5, seed=11)
    X = one_hot(sequences)
    other = one_hot(random_sequences(6, seed=12))
    fasta = write_fasta(folder / "seqs.fa", sequences)
    authors = write_hdf5(
        folder / "authors.h5", {"train": other[:4], "valid": X, "test": other[4:]}, transpose=True
    )
    ours = write_hdf5(
        folder / "ours.h5", {"train": other[:4], "valid": other[4:], "test": X}, transpose=False
    )
    return sequences, fasta, authors, ours


@pytest.fixture(scope="module")
def max_meme(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-meme") / "max.meme"
    write_meme([jaspar_motif("MA0058.3", "JASPAR2016")], path)
    return path


# --------------------------------------------------------------------------- help and usage


def test_top_level_help_lists_commands_and_exit_codes():
    result = run_cli("--help")
    assert result.code == 0 and result.err == ""
    for command in ("up", "dataset", "train", "jobs", "models", "filters", "attribute", "predict", "tomtom"):
        assert re.search(rf"^\s+{command}\s", result.out, flags=re.MULTILINE), command
    codes = result.out.split("exit codes:")[1]
    for code, word in (
        ("0", "success"),
        ("1", "FAILED"),
        ("2", "bad usage"),
        ("3", "server"),
        ("4", "UNAVAILABLE"),
    ):
        assert re.search(rf"^\s+{code}\s+.*{word}", codes, flags=re.MULTILINE), code


@pytest.mark.parametrize(
    "command",
    [
        ["up"],
        ["dataset", "create"],
        ["dataset", "import-hdf5"],
        ["dataset", "import-fasta"],
        ["dataset", "get"],
        ["dataset", "list"],
        ["train"],
        ["jobs", "list"],
        ["jobs", "get"],
        ["jobs", "watch"],
        ["jobs", "cancel"],
        ["models", "list"],
        ["filters"],
        ["attribute"],
        ["predict"],
        ["tomtom"],
        ["databases", "list"],
        ["databases", "upload"],
        ["experiment"],
        ["report"],
    ],
)
def test_every_command_has_help(command):
    result = run_cli(*command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: motiflens {' '.join(command)} ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "required: COMMAND"),
        (["dataset"], "required: COMMAND"),
        (["dataset", "create"], "required: --task"),
        (["dataset", "create", "--task", "2"], "invalid choice: 2"),
        (
            ["train", "ds-x", "--architecture", "cnn_2", "--activation", "relu", "--param", "scale"],
            "NAME=NUMBER",
        ),
        (
            ["attribute", "m", "--dataset", "d", "--method", "magic", "--out", "x.npz"],
            "invalid choice: 'magic'",
        ),
        (
            ["attribute", "m", "--method", "ism", "--out", "x.npz"],
            "one of the arguments --dataset --fasta --hdf5",
        ),
        (["predict", "m", "--dataset", "d", "--limit", "-1"], "non-negative integer"),
        (["train", "ds-x", "--first-layer-l2", "-0.2"], "--first-layer-l2: expected a number >= 0"),
        (["--timeout", "0", "dataset", "list"], "positive number"),
        (["--address", "no-port", "dataset", "list"], "expected HOST:PORT"),
    ],
)
def test_bad_usage_exits_2_with_one_line(argv, expected):
    result = run_cli(*argv)
    assert result.code == 2
    assert expected in result.error_line()


def test_up_without_the_services_package_exits_2(monkeypatch):
    # Imports of the package then fail as they would without the full installation.
    monkeypatch.setitem(sys.modules, "services", None)
    monkeypatch.setitem(sys.modules, "services.launcher", None)
    result = run_cli("up", "--base-port", "1")
    assert result.code == 2
    assert "full motiflens installation" in result.error_line()


def test_cli_module_imports_neither_tensorflow_nor_server_code():
    heavy = "{'tensorflow', 'keras', 'motiflens', 'services', 'h5py'}"
    script = (
        "import sys; import motiflens_client.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# --------------------------------------------------------------------------- trainer commands


def test_dataset_create_prints_the_id_and_get_describes_it(cli, trained):
    assert DATASET_ID.match(trained.create.out.strip()) and trained.create.out.count("\n") == 1
    info = json.loads(cli("dataset", "get", trained.dataset_id, "--json").out)
    assert info["dataset_id"] == trained.dataset_id and info["kind"] == "task1"
    assert (info["num_train"], info["num_valid"], info["num_test"]) == (420, 60, 120)
    assert (info["sequence_length"], info["num_targets"], info["seed"]) == (LENGTH, 12, 3)
    table = cli("dataset", "get", trained.dataset_id)
    assert table.code == 0 and "420/60/120" in table.out
    listing = cli("dataset", "list")
    assert listing.out.splitlines()[0].split()[:2] == ["DATASET_ID", "KIND"]
    assert trained.dataset_id in listing.out
    assert trained.dataset_id in {d["dataset_id"] for d in json.loads(cli("dataset", "list", "--json").out)}


def test_train_waits_and_prints_the_model_and_test_metrics(cli, trained):
    fields = dict(line.split(None, 1) for line in trained.train.out.splitlines())
    assert fields["state"] == "SUCCEEDED" and fields["epochs_done"] == "2"
    assert fields["model_id"].startswith("model-") and fields["dataset_id"] == trained.dataset_id
    assert fields["model"].startswith("cnn_local / exponential")
    auroc, _, sd = fields["test_auroc"].partition(" +/- ")
    assert 0.0 <= float(auroc) <= 1.0 and float(sd) >= 0.0
    assert f"job {trained.job_id} queued" in trained.train.err
    job = json.loads(cli("jobs", "get", trained.job_id, "--json").out)
    assert job["state"] == "SUCCEEDED" and job["model_id"] == trained.model_id
    assert len(job["test_metrics"]["auroc_per_class"]) == 12
    assert trained.job_id in cli("jobs", "list").out
    assert trained.job_id in {j["job_id"] for j in json.loads(cli("jobs", "list", "--json").out)}


def test_jobs_watch_replays_the_epochs_of_a_finished_job(cli, trained):
    result = cli("jobs", "watch", trained.job_id)
    assert result.code == 0
    assert re.findall(r"^epoch\s+(\d+)\s+loss", result.out, flags=re.MULTILINE) == ["1", "2"]
    as_json = [json.loads(line) for line in cli("jobs", "watch", trained.job_id, "--json").out.splitlines()]
    assert [e["epoch"] for e in as_json if e["event"] == "epoch"] == [1, 2]
    assert as_json[-1]["event"] == "job" and as_json[-1]["state"] == "SUCCEEDED"


def test_cancelled_job_watch_exits_1_and_a_finished_job_cancels_to_itself(cli, trained):
    started = cli(
        "train",
        trained.dataset_id,
        "--architecture",
        "cnn_local",
        "--activation",
        "relu",
        "--epochs",
        "50",
        "--no-wait",
    )
    assert started.code == 0 and started.out.strip().startswith("job-")
    job_id = started.out.strip()
    cancelled = cli("jobs", "cancel", job_id)
    assert cancelled.code == 0 and cancelled.out.split()[0] == job_id
    watched = cli("jobs", "watch", job_id)
    assert watched.code == 1
    assert f"job {job_id} ended CANCELLED" in watched.error_line()
    finished = cli("jobs", "cancel", trained.job_id)
    assert finished.code == 0 and finished.out.split() == [trained.job_id, "SUCCEEDED"]


def test_models_list_filters_by_data_set(cli, trained):
    listing = cli("models", "list", "--dataset", trained.dataset_id)
    assert listing.code == 0 and trained.model_id in listing.out
    models = json.loads(cli("models", "list", "--dataset", trained.dataset_id, "--json").out)
    assert [(m["model_id"], m["architecture"], m["activation"]) for m in models] == [
        (trained.model_id, "cnn_local", "exponential")
    ]


def test_dataset_import_fasta_with_npy_and_text_labels(cli, tmp_path):
    sequences = random_sequences(40, seed=5)
    fasta = write_fasta(tmp_path / "train.fa", sequences)
    labels = np.random.default_rng(1).integers(0, 2, (40, 2)).astype(np.float32)
    np.save(tmp_path / "labels.npy", labels)
    np.savetxt(tmp_path / "labels.txt", labels[:, 0], fmt="%d")
    from_npy = cli("dataset", "import-fasta", str(fasta), "--labels", str(tmp_path / "labels.npy"), "--json")
    info = json.loads(from_npy.out)
    assert info["kind"] == "fasta" and info["num_targets"] == 2 and info["sequence_length"] == LENGTH
    assert info["num_train"] + info["num_valid"] + info["num_test"] == 40
    from_text = cli(
        "dataset", "import-fasta", str(fasta), "--labels", str(tmp_path / "labels.txt"), "--seed", "2"
    )
    assert from_text.code == 0 and DATASET_ID.match(from_text.out.strip())
    assert json.loads(cli("dataset", "get", from_text.out.strip(), "--json").out)["num_targets"] == 1

    np.save(tmp_path / "short.npy", labels[:39])
    mismatch = cli("dataset", "import-fasta", str(fasta), "--labels", str(tmp_path / "short.npy"))
    assert mismatch.code == 2
    assert "39 label rows but" in mismatch.error_line() and "40 records" in mismatch.error_line()


def test_dataset_import_hdf5_in_the_authors_layout(cli, tmp_path):
    X = one_hot(random_sequences(30, seed=8))
    path = write_hdf5(
        tmp_path / "data.h5", {"train": X[:20], "valid": X[20:25], "test": X[25:]}, transpose=True
    )
    result = cli("dataset", "import-hdf5", str(path), "--reverse-complement", "--name", "authors")
    assert result.code == 0, result.err
    info = json.loads(cli("dataset", "get", result.out.strip(), "--json").out)
    assert (info["kind"], info["name"], info["num_train"], info["num_valid"], info["num_test"]) == (
        "hdf5",
        "authors",
        40,
        5,
        5,
    )


# --------------------------------------------------------------------------- interpreter commands


def test_filters_write_meme_and_png_logos(cli, trained, tmp_path):
    meme, logos = tmp_path / "filters.meme", tmp_path / "logos"
    result = cli(
        "filters",
        trained.model_id,
        "--dataset",
        trained.dataset_id,
        "--meme",
        str(meme),
        "--logos",
        str(logos),
    )
    assert result.code == 0, result.err
    motifs = read_meme(meme)
    assert [m.motif_id for m in motifs] == [f"filter{i}" for i in range(24)]
    assert all(m.pwm.shape == (19, 4) for m in motifs)
    np.testing.assert_allclose([m.pwm.sum(axis=1) for m in motifs], 1.0, atol=1e-6)
    pngs = sorted(logos.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"filter{i}.png" for i in range(24))
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    rows = result.out.splitlines()
    assert rows[0].split() == ["FILTER", "SITES", "MAX_ACTIVATION", "CONSENSUS"] and len(rows) == 25
    to_stdout = cli(
        "filters", trained.model_id, "--dataset", trained.dataset_id, "--split", "valid", "--limit", "30"
    )
    assert to_stdout.code == 0 and to_stdout.out.startswith("MEME version 4")


def test_attribute_same_scores_from_fasta_and_both_hdf5_layouts(cli, trained, fasta_and_hdf5, tmp_path):
    sequences, fasta, authors, ours = fasta_and_hdf5
    runs = {
        "fasta": ["--fasta", str(fasta)],
        "authors": ["--hdf5", str(authors), "--split", "valid"],
        "ours": ["--hdf5", str(ours)],
    }
    scores = {}
    for name, source in runs.items():
        out = tmp_path / f"{name}.npz"
        result = cli(
            "attribute", trained.model_id, *source, "--method", "saliency", "--target", "3", "--out", str(out)
        )
        assert result.code == 0, result.err
        if name == "fasta":
            assert result.err == ""
        else:  # the file was uploaded as a data set, which the note names
            uploaded = re.fullmatch(
                r"motiflens: (\S+) is stored as data set (ds-[0-9a-f]{32}); "
                r"pass --dataset \2 to skip the upload\n",
                result.err,
            )
            assert uploaded and uploaded.group(1) == source[1], result.err
            assert json.loads(cli("dataset", "get", uploaded.group(2), "--json").out)["kind"] == "hdf5"
        with np.load(out) as npz:
            scores[name] = npz["scores"]
            assert npz["scores"].shape == (5, LENGTH, 4) and npz["scores"].dtype == np.float32
            assert (str(npz["method"]), int(npz["target"]), str(npz["output"])) == ("saliency", 3, "logit")
            assert str(npz["model_id"]) == trained.model_id
            if name == "fasta":
                assert list(npz["ids"]) == [f"seq{i}" for i in range(5)]
    assert np.abs(scores["fasta"]).max() > 0
    np.testing.assert_allclose(scores["authors"], scores["fasta"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores["ours"], scores["fasta"], rtol=1e-5, atol=1e-7)


def test_attribute_ism_of_a_data_set_slice(cli, trained, tmp_path):
    out = tmp_path / "ism.npz"
    result = cli(
        "attribute",
        trained.model_id,
        "--dataset",
        trained.dataset_id,
        "--offset",
        "2",
        "--limit",
        "3",
        "--method",
        "ism",
        "--output",
        "probability",
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    assert result.out.strip() == f"{out}  scores (3, {LENGTH}, 4)"
    with np.load(out) as npz:
        assert npz["scores"].shape == (3, LENGTH, 4) and np.isfinite(npz["scores"]).all()
        assert str(npz["source"]) == f"dataset:{trained.dataset_id}:test[2:5]"
        assert "ids" not in npz


def test_attribute_writes_hypothetical_one_hot_and_modisco_inputs(cli, trained, tmp_path):
    out, folder = tmp_path / "shap.npz", tmp_path / "modisco"
    result = cli(
        "attribute",
        trained.model_id,
        "--dataset",
        trained.dataset_id,
        "--limit",
        "4",
        "--method",
        "deepshap",
        "--num-references",
        "3",
        "--form",
        "projected",
        "--modisco",
        str(folder),
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    with np.load(out) as npz:
        scores, hypothetical, onehot = npz["scores"], npz["hypothetical"], npz["one_hot"]
        assert str(npz["form"]) == "projected" and not bool(npz["gradient_correction"])
    assert scores.shape == hypothetical.shape == onehot.shape == (4, LENGTH, 4)
    np.testing.assert_array_equal(onehot.sum(-1), 1)  # the stored rows, decoded
    np.testing.assert_allclose(scores, hypothetical * onehot, atol=1e-7)
    assert np.abs(hypothetical[onehot == 0]).max() > 0  # hypothetical, not projected
    # modisco-lite's `motifs -s ohe.npz -a shap.npz` reads arr_0 of each as (N, 4, L).
    with np.load(folder / "ohe.npz") as ohe, np.load(folder / "shap.npz") as shap:
        np.testing.assert_array_equal(ohe["arr_0"], onehot.transpose(0, 2, 1))
        np.testing.assert_array_equal(shap["arr_0"], hypothetical.transpose(0, 2, 1))


def test_predict_to_npz_and_tsv(cli, trained, fasta_and_hdf5, tmp_path):
    _, fasta, _, ours = fasta_and_hdf5
    out = tmp_path / "predictions.npz"
    assert cli("predict", trained.model_id, "--hdf5", str(ours), "--out", str(out)).code == 0
    with np.load(out) as npz:
        predictions = npz["predictions"]
    assert predictions.shape == (5, 12) and ((predictions >= 0) & (predictions <= 1)).all()
    tsv = cli("predict", trained.model_id, "--fasta", str(fasta)).out.splitlines()
    assert tsv[0].split("\t") == ["id"] + [f"target_{j}" for j in range(12)]
    assert [line.split("\t")[0] for line in tsv[1:]] == [f"seq{i}" for i in range(5)]
    np.testing.assert_allclose(
        [[float(v) for v in line.split("\t")[1:]] for line in tsv[1:]], predictions, rtol=1e-4
    )


# --------------------------------------------------------------------------- motifmatch commands


def test_tomtom_prints_meme_tomtom_tsv_and_writes_out(cli, max_meme, tmp_path):
    result = cli("tomtom", str(max_meme))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert tuple(lines[0].split("\t")) == TSV_COLUMNS
    first = lines[1].split("\t")
    assert (first[0], first[1], first[9]) == ("MA0058.3", "MA0058.3", "+")
    out = tmp_path / "hits.tsv"
    written = cli("tomtom", str(max_meme), "--qvalue", "0.05", "--trim", "--out", str(out))
    summary, *table = written.out.splitlines()
    assert written.code == 0 and re.match(rf"^{re.escape(str(out))}  \d+ hits against 519 targets$", summary)
    tsv = out.read_text().split("\n\n")[0].splitlines()
    assert tuple(tsv[0].split("\t")) == TSV_COLUMNS  # the file stays MEME's format
    # The hits also reach the terminal, each target's TF name beside its id.
    assert table[0].split() == "QUERY TARGET TF E_VALUE Q_VALUE P_VALUE OFFSET OVERLAP STRAND".split()
    assert len(table) - 1 == len(tsv) - 1 == int(summary.split()[1])
    assert table[1].split()[:3] == ["MA0058.3", "MA0058.3", "MAX"]


def test_tomtom_table_prints_the_tf_name_beside_the_target_id(cli, tmp_path):
    ctcf = jaspar_motif("MA0139.1", "JASPAR2016")
    queries = tmp_path / "ctcf_like.meme"
    write_meme([Motif("ctcf_like", "", 0.7 * ctcf.pwm + 0.3 * 0.25)], queries)  # CTCF, flattened
    result = cli("tomtom", str(queries), "--table")
    assert result.code == 0, result.err
    header, *rows = [line.split() for line in result.out.splitlines()]
    assert header[:3] == ["QUERY", "TARGET", "TF"]
    best = min(rows, key=lambda row: float(row[header.index("P_VALUE")]))
    assert best[:3] == ["ctcf_like", "MA0139.1", "CTCF"] and float(best[header.index("E_VALUE")]) < 1e-6
    assert all(len(row) == len(header) for row in rows)  # every JASPAR target has a one-word name
    # Without --table stdout is MEME's TSV, unchanged: ten columns and no names.
    tsv = cli("tomtom", str(queries)).out.split("\n\n")[0].splitlines()
    assert tuple(tsv[0].split("\t")) == TSV_COLUMNS and "CTCF" not in "\n".join(tsv)
    assert {line.split("\t")[1] for line in tsv[1:]} == {row[1] for row in rows}


def test_databases_upload_then_list(cli, max_meme):
    uploaded = cli("databases", "upload", "cli-max", str(max_meme))
    assert uploaded.code == 0, uploaded.err
    database_id = uploaded.out.strip()
    databases = {d["database_id"]: d for d in json.loads(cli("databases", "list", "--json").out)}
    assert databases[database_id]["num_motifs"] == 1 and "JASPAR2016" in databases
    assert database_id in cli("databases", "list").out


# --------------------------------------------------------------------------- experiment and report


def test_experiment_then_report(cli, trained, tmp_path):
    out = tmp_path / "experiment"
    result = cli(
        "experiment",
        "--task",
        "1",
        "--models",
        "cnn_local",
        "--activations",
        "exponential",
        "--seeds",
        "0",
        "--dataset",
        trained.dataset_id,
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    header, row = result.out.splitlines()[:2]
    assert header.split()[:5] == ["model", "activation", "seed", "epochs", "test_auroc"]
    assert row.split()[:4] == ["cnn_local", "exponential", "0", "1"]
    assert (out / "results.json").is_file() and (out / "results.csv").is_file()
    report = run_cli("report", str(out))
    assert report.code == 0, report.err
    html = Path(report.out.strip())
    assert html.parent == out and html.is_file()
    assert run_cli("report", str(tmp_path / "nothing-here")).code == 2


# --------------------------------------------------------------------------- errors


def test_unreachable_server_exits_4_with_one_line():
    closed = free_base_port()
    result = run_cli("--address", f"127.0.0.1:{closed}", "dataset", "list")
    assert result.code == 4 and result.out == ""
    line = result.error_line()
    assert "UNAVAILABLE" in line and f"trainer at 127.0.0.1:{closed}" in line and "motiflens up" in line


@pytest.mark.parametrize(
    ("argv", "code_name"),
    [
        (["dataset", "get", "ds-" + "0" * 32], "NOT_FOUND"),
        (["dataset", "get", "not-an-id"], "INVALID_ARGUMENT"),
        (["jobs", "get", "job-" + "0" * 32], "NOT_FOUND"),
        (["jobs", "watch", "job-" + "0" * 32], "NOT_FOUND"),
        (["models", "list", "--dataset", "ds-" + "0" * 32], "NOT_FOUND"),
        (["tomtom", "{meme}", "--database", "JASPAR1999"], "NOT_FOUND"),
        (["predict", UNKNOWN_MODEL, "--dataset", "{dataset}"], "NOT_FOUND"),
        (["train", "{dataset}", "--architecture", "cnn_9", "--activation", "relu"], "INVALID_ARGUMENT"),
    ],
)
def test_server_errors_exit_3_with_the_code_name(cli, trained, max_meme, argv, code_name):
    argv = [arg.format(meme=max_meme, dataset=trained.dataset_id) for arg in argv]
    result = cli(*argv)
    assert result.code == 3
    assert result.error_line().startswith(f"motiflens: error: {code_name}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">a\nACGT\n>b\nACXT\n", ":4: invalid character 'X' at column 3 in record 'b'"),
        ("ACGT\n>a\nACGT\n", ":1: sequence text before the first '>' header"),
        (">a\nACGT\n>b\n\n>c\nACGT\n", ":3: record 'b' has no sequence"),
        (">a\nACGT\n>b\nACG\n", ":3: record 'b' has 3 nt"),
        ("\n\n", ": no FASTA record found"),
    ],
)
def test_bad_fasta_exits_2_naming_the_line(tmp_path, text, expected):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    labels = tmp_path / "labels.npy"
    np.save(labels, np.zeros(2, np.float32))
    for argv in (
        [
            "attribute",
            UNKNOWN_MODEL,
            "--fasta",
            str(path),
            "--method",
            "saliency",
            "--out",
            str(tmp_path / "x.npz"),
        ],
        ["dataset", "import-fasta", str(path), "--labels", str(labels)],
    ):
        result = run_cli("--address", "127.0.0.1:1", *argv)  # fails before any call
        assert result.code == 2
        assert f"{path}{expected}" in result.error_line()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["tomtom", "{tmp}/missing.meme"], "no such file: {tmp}/missing.meme"),
        (["dataset", "import-hdf5", "{tmp}/missing.h5"], "no such file"),
        (
            ["attribute", "m", "--hdf5", "{tmp}/missing.h5", "--method", "ism", "--out", "{tmp}/a.npz"],
            "no such file",
        ),
        (
            ["attribute", "m", "--dataset", "d", "--method", "ism", "--out", "{tmp}/no/a.npz"],
            "does not exist",
        ),
        (["tomtom", "{tmp}/not.meme"], "not a MEME motif file"),
        (["predict", "m", "--hdf5", "{tmp}/not.meme"], "not a readable HDF5 file"),
        (
            ["predict", "m", "--fasta", "{tmp}/ok.fa", "--split", "test"],
            "--split applies to --dataset and --hdf5",
        ),
    ],
)
def test_bad_input_files_exit_2(tmp_path, argv, expected):
    (tmp_path / "not.meme").write_text("hello\n")
    write_fasta(tmp_path / "ok.fa", random_sequences(2, seed=1))
    result = run_cli("--address", "127.0.0.1:1", *(arg.format(tmp=tmp_path) for arg in argv))
    assert result.code == 2
    assert expected.format(tmp=tmp_path) in result.error_line()


def test_hdf5_input_refused_by_the_trainer_exits_3_naming_the_trainer(cli, stack, tmp_path):
    # --hdf5 uploads the file as a data set; one without the paper's full layout is refused.
    path = write_hdf5(
        tmp_path / "test-only.h5", {"test": one_hot(random_sequences(2, seed=1))}, transpose=False
    )
    result = cli("predict", UNKNOWN_MODEL, "--hdf5", str(path), "--split", "test")
    assert result.code == 3
    line = result.error_line()
    assert line.startswith("motiflens: error: INVALID_ARGUMENT: ") and "missing key 'X_train'" in line
    assert f"(trainer at {stack.address})" in line


def test_wrong_or_missing_token_exits_3(tmp_path, max_meme):
    store = open_store((tmp_path / "store").as_uri())
    servicer = MotifMatchServicer(store)
    settings = make_settings("motifmatch", token="s3cret")
    with running_server(
        lambda server: add_to_server(servicer, server),
        service_name=SERVICE_NAME,
        settings=settings,
        store=store,
    ) as running:
        address = f"127.0.0.1:{running.port}"
        base = ["--address", "127.0.0.1:1", "--motifmatch-address", address]
        wrong = run_cli(*base, "--token", "wrong", "tomtom", str(max_meme))
        assert wrong.code == 3
        assert wrong.error_line().startswith("motiflens: error: PERMISSION_DENIED: ")
        assert f"(motifmatch at {address})" in wrong.error_line()
        missing = run_cli(*base, "tomtom", str(max_meme))
        assert missing.code == 3 and "UNAUTHENTICATED" in missing.error_line()
        right = run_cli(*base, "--token", "s3cret", "databases", "list", "--json")
        assert right.code == 0 and "JASPAR2016" in {d["database_id"] for d in json.loads(right.out)}


# --------------------------------------------------------------------------- the installed command


def test_console_script_runs_help_and_a_command(stack, trained):
    command = Path(sys.executable).parent / "motiflens"
    help_run = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0 and "exit codes:" in help_run.stdout
    env = dict(os.environ, MOTIFLENS_ADDRESS=stack.address)
    env.pop("MOTIFLENS_TOKEN", None)
    get = subprocess.run(
        [str(command), "dataset", "get", trained.dataset_id, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert get.returncode == 0, get.stderr
    assert json.loads(get.stdout)["dataset_id"] == trained.dataset_id
    missing = subprocess.run(
        [sys.executable, "-m", "motiflens_client", "jobs", "get", "job-" + "0" * 32],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert missing.returncode == 3 and missing.stderr.startswith("motiflens: error: NOT_FOUND: ")
    assert missing.stderr.count("\n") == 1
