import json

from motiflens.demo import main
from motiflens.sequences import load_hdf5


def test_demo_runs_end_to_end_on_a_small_task(tmp_path, capsys):
    output = tmp_path / "demo"
    code = main(["--num-sequences", "500", "--epochs", "2", "--output", str(output)])
    assert code == 0
    summary = json.loads((output / "summary.json").read_text())
    assert set(summary) == {"relu", "exponential"}
    for run in summary.values():
        assert 0.0 <= run["test"]["auroc"] <= 1.0 and 0.0 <= run["test"]["aupr"] <= 1.0
        assert run["epochs_run"] == 2
    dataset = load_hdf5(output / "task1.h5")
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (350, 50, 100)
    for activation in ("relu", "exponential"):
        assert (output / f"cnn_deep-{activation}" / "model.keras").is_file()
    printed = capsys.readouterr().out
    assert "Test-set classification" in printed and "exponential" in printed


def test_demo_rejects_an_unknown_activation_with_a_clear_message(tmp_path, capsys):
    code = main(
        [
            "--num-sequences",
            "100",
            "--epochs",
            "1",
            "--activations",
            "relu,swish",
            "--output",
            str(tmp_path / "d"),
        ]
    )
    assert code == 2
    assert "unknown name 'swish'" in capsys.readouterr().err
