"""The SDK's progress bars without a server: the automatic choice, the bar kinds, the CLI's choice.

The bars of real calls (attribution streams, job waits, the CLI) are tested against a
running stack in tests/service/test_progress_bars.py.
"""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
import textwrap
import warnings

import pytest
from motiflens_client.cli import build_parser
from motiflens_client.cli._output import progress_choice
from motiflens_client.cli.motifs import DiscoveryProgress
from motiflens_client.cli.variants import count_alleles
from motiflens_client.errors import InvalidArgument
from motiflens_client.sdk.progress import NullBar, close_bar, open_bar, wants_bar
from progress_doubles import Recording, Terminal
from tqdm.std import tqdm as std_tqdm

# --------------------------------------------------------------------------- the automatic choice


@pytest.mark.parametrize(
    ("progress", "steps", "tty", "notebook", "shown"),
    [
        # None: a terminal or a notebook, and more than one step (None steps: a wait).
        (None, 2, True, False, True),
        (None, 2, False, True, True),
        (None, None, True, False, True),
        (None, 1, True, False, False),
        (None, 0, True, True, False),
        (None, 50, False, False, False),
        (None, None, False, False, False),
        # True and False decide alone, whatever the environment and size.
        (True, 1, False, False, True),
        (True, None, False, False, True),
        (False, 50, True, True, False),
        # A factory: always (the caller asked for its bar).
        (std_tqdm, 1, False, False, True),
    ],
)
def test_wants_bar_decision_table(progress, steps, tty, notebook, shown):
    assert wants_bar(progress, steps=steps, tty=tty, notebook=notebook) is shown


@pytest.mark.parametrize("bad", ["yes", 1, 0.5, ["bar"]])
def test_another_kind_of_progress_is_refused_naming_the_field(bad):
    with pytest.raises(InvalidArgument, match=r"progress: expected None \(automatic\), True, False or a"):
        wants_bar(bad, steps=3, tty=True, notebook=False)
    with pytest.raises(InvalidArgument, match=type(bad).__name__):
        open_bar(bad, total=3, desc="x", unit="seq", stream=io.StringIO())


def test_no_bar_asks_no_total_and_one_step_is_not_worth_a_bar():
    asked = []

    def total():
        asked.append(1)
        return 640

    # Not a terminal, not a notebook: decided before the total (a GetDataset call) is asked.
    bar = open_bar(None, total=total, desc="x", unit="seq", per_step=64, stream=io.StringIO())
    assert isinstance(bar, NullBar) and asked == []
    assert isinstance(open_bar(False, total=total, desc="x", unit="seq", stream=Terminal()), NullBar)
    assert asked == []
    # A terminal: 64 sequences in chunks of 64 is one step (no bar), 65 are two (a bar).
    one = open_bar(None, total=64, desc="x", unit="seq", per_step=64, stream=Terminal())
    assert isinstance(one, NullBar) and one.total == 64
    two = open_bar(None, total=total, desc="x", unit="seq", per_step=64, stream=(screen := Terminal()))
    assert not isinstance(two, NullBar) and asked == [1] and two.total == 640
    two.update(640)
    two.close()
    assert "\r" in screen.getvalue() and "640/640" in screen.getvalue()


def test_a_null_bar_counts_and_shows_nothing():
    bar = NullBar(7)
    bar.update(3)
    bar.update(4)
    bar.set_postfix_str("ignored")
    bar.close()
    bar.close()
    assert (bar.n, bar.total) == (7, 7)
    errors = io.StringIO()
    close_bar(bar, None, "job done", stream=errors)
    assert errors.getvalue() == ""


# --------------------------------------------------------------------------- the bar kinds


def test_a_factory_gets_total_desc_and_unit_and_the_summary_as_postfix():
    made = []

    def factory(**options):
        made.append(options)
        return Recording(**options)

    bar = open_bar(factory, total=7, desc="attribute saliency", unit="seq", per_step=3, bar_format="{bar}")
    assert made == [{"total": 7, "desc": "attribute saliency", "unit": "seq"}]  # no tqdm-only options
    for rows in (3, 3, 1):
        bar.update(rows)
    errors = io.StringIO()
    close_bar(bar, factory, "job-1 SUCCEEDED", stream=errors)
    assert bar.steps == [3, 3, 1] and bar.n == bar.total == 7 and bar.closed
    assert bar.postfixes[-1] == "job-1 SUCCEEDED" and errors.getvalue() == ""


def test_bytes_are_shown_with_si_prefixes_by_the_built_in_bars_and_counted_in_bytes():
    log = io.StringIO()
    size = 3 * 1024 * 1024 + 5
    bar = open_bar(
        True, total=size, desc="upload g.fa", unit="B", unit_scale=True, per_step=2**20, stream=log
    )
    bar.update(size)
    bar.close()
    assert bar.n == size and log.getvalue().startswith("upload g.fa: 100%|##########| 3.15M/3.15M [")
    made = []

    def factory(**options):
        made.append(options)
        return Recording(**options)

    open_bar(factory, total=size, desc="upload g.fa", unit="B", unit_scale=True).close()
    assert made == [{"total": size, "desc": "upload g.fa", "unit": "B"}]  # the factory's contract


def test_a_log_file_gets_whole_lines_one_per_epoch_and_never_a_carriage_return():
    log = io.StringIO()
    bar = open_bar(
        True,
        total=3,
        desc="job-1 epoch",
        unit="epoch",
        bar_format="{desc} {n_fmt}/{total_fmt} |{bar}|{postfix}",
        every_step=True,
        stream=log,
    )
    assert type(bar).__name__ == "LineBar" and log.getvalue() == ""  # no "0/3" line
    for epoch in (1, 2, 3):
        bar.set_postfix_str(f"loss {1 / epoch:.2f}", refresh=False)
        bar.update(1)
    close_bar(bar, True, "job-1 SUCCEEDED after 3 epochs", stream=log)
    bar.close()  # a second close adds nothing
    assert "\r" not in log.getvalue()
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and lines[3] == "job-1 SUCCEEDED after 3 epochs"
    for epoch, (line, loss) in enumerate(zip(lines[:3], ("1.00", "0.50", "0.33"), strict=True), start=1):
        # tqdm's ascii bar: 10 cells, "#" per full tenth and a digit for the part of the next.
        assert re.fullmatch(rf"job-1 epoch {epoch}/3 \|[#0-9 ]{{10}}\|, loss {loss}", line), line
    assert lines[2].startswith("job-1 epoch 3/3 |##########|")


def test_a_line_bar_of_many_chunks_prints_at_most_one_line_a_second_and_the_end():
    log = io.StringIO()
    bar = open_bar(True, total=640, desc="attribute ism", unit="seq", per_step=64, stream=log)
    assert bar.mininterval == 1.0
    clock = [bar.start_t]
    bar._time = lambda: clock[0]  # tqdm's clock, stepped by hand: no timing slack
    for second in (0.3, 0.6, 1.2, 1.5, 2.0):  # chunks arriving at these seconds
        clock[0] = bar.start_t + second
        bar.update(64)
    clock[0] = bar.start_t + 2.1
    bar.update(320)
    bar.close()
    lines = log.getvalue().splitlines()
    # Drawn at 1.2 s (the first chunk 1 s after the start), then on close: the later chunks
    # came within 1 s of that line.
    assert [line.split("|")[2].split()[0] for line in lines] == ["192/640", "640/640"]
    assert lines[-1].startswith("attribute ism: 100%|##########| 640/640")


def test_a_terminal_gets_tqdms_text_bar():
    screen = Terminal()
    bar = open_bar(None, total=4, desc="scan filters", unit="seq", per_step=2, stream=screen)
    assert isinstance(bar, std_tqdm) and type(bar).__name__ != "LineBar"
    bar.update(2)
    bar.update(2)
    bar.close()
    text = screen.getvalue()
    assert text.startswith("\rscan filters:   0%|") and "4/4" in text and text.endswith("\n")


def test_a_notebook_without_ipywidgets_gets_lines_and_no_warning():
    # This environment has no ipywidgets: tqdm.auto's class is the text bar, so lines.
    log = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bar = open_bar(None, total=2, desc="job-1 epoch", unit="epoch", stream=log, notebook=True)
        bar.update(1)
        bar.update(1)
        bar.close()
    assert type(bar).__name__ == "LineBar" and "\r" not in log.getvalue() and "2/2" in log.getvalue()
    assert caught == []


FAKE_KERNEL = textwrap.dedent(
    """
    import sys, types, warnings
    # What tqdm.autonotebook and in_notebook look for: a Jupyter kernel (ipykernel's shell).
    sys.modules["ipykernel"] = types.ModuleType("ipykernel")
    sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
    class ZMQInteractiveShell:
        kernel = object()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell
    sys.modules["IPython"] = ipython
    kind = ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        {action}
    print(f"kind={{kind}}")
    print("warnings=" + "|".join(str(w.message)[:40] for w in caught))
    """
)


def _in_fake_kernel(action: str) -> tuple[dict[str, str], str]:
    """``key=value`` lines of the script's stdout, and its stderr."""
    script = FAKE_KERNEL.format(action=action)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines()), done.stderr


def test_in_a_kernel_without_ipywidgets_tqdm_auto_would_warn_but_the_sdk_does_not():
    # The condition is real: tqdm.auto alone warns "IProgress not found" in such a kernel.
    report, _ = _in_fake_kernel("import tqdm.auto")
    assert report["warnings"].startswith("IProgress not found")
    # The SDK falls back to lines on stderr (not stdout), without the warning.
    action = (
        "from motiflens_client.sdk.progress import open_bar, in_notebook; assert in_notebook(); "
        "bar = open_bar(None, total=3, desc='job-1 epoch', unit='epoch', every_step=True); "
        "[bar.update(1) for _ in range(3)]; bar.close(); kind = type(bar).__name__"
    )
    report, stderr = _in_fake_kernel(action)
    assert report == {"kind": "LineBar", "warnings": ""}
    assert stderr.splitlines()[0].startswith("job-1 epoch:  33%|###")
    assert "3/3" in stderr.splitlines()[-1] and "\r" not in stderr and len(stderr.splitlines()) == 3


# --------------------------------------------------------------------------- the CLI's choice


def test_the_cli_shows_bars_only_on_a_terminal_and_never_with_no_progress(monkeypatch):
    parser = build_parser()
    quiet = parser.parse_args(["--no-progress", "jobs", "list"])
    plain = parser.parse_args(["jobs", "list"])
    assert quiet.no_progress is True and plain.no_progress is False
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress_choice(plain) is None  # the SDK's automatic choice: more than one step
    assert progress_choice(quiet) is False
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe or a file
    assert progress_choice(plain) is False


def test_alleles_are_counted_as_the_interpreter_splits_them(tmp_path):
    text = (
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr1\t10\t.\tA\tG\t.\t.\t.\n"
        "chr1\t20\trs1\tC\tT,G,<DEL>\t.\t.\t.\n"
        "chr2\t30\t.\tG\t.\t.\t.\t.\n"
        "\n"
    )
    plain = tmp_path / "calls.vcf"
    plain.write_text(text)
    packed = tmp_path / "calls.vcf.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    assert count_alleles(plain) == count_alleles(packed) == 5
    assert count_alleles(tmp_path / "missing.vcf") is None


# --------------------------------------------------------------------------- motifs discover's events

#: DiscoverMotifs' events as the interpreter streams them: sequences attributed in chunks,
#: TF-MoDISco heartbeats (no count), then the Tomtom matching.
DISCOVERY_EVENTS = [
    ("attributing", 64, 150, 1.0),
    ("attributing", 128, 150, 2.0),
    ("attributing", 150, 150, 2.6),
    ("discovering", 0, 0, 12.6),
    ("discovering", 0, 0, 22.6),
    ("matching", 0, 0, 30.1),
]


def _discover_args(*options: str):
    return build_parser().parse_args([*options, "motifs", "discover", "model-1", "--fasta", __file__])


def test_motifs_discover_draws_one_bar_of_sequences_with_the_stage_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", screen := Terminal())
    with DiscoveryProgress(_discover_args()) as progress:
        for event in DISCOVERY_EVENTS[:2]:
            progress(*event)
        progress("attributing", 64, 150, 2.1)  # a restarted stream repeats events: never back
        for event in DISCOVERY_EVENTS[2:]:
            progress(*event)
        bar = progress.bar
        assert (bar.n, bar.total, bar.postfix) == (150, 150, "matching")
    assert bar.disable  # closed
    # Drawn whatever the clock: the first frame (the total known from the first event), a
    # redraw for each event that adds no count (the repeat, the stages), and the close. An
    # update draws only 0.1 s after the last frame, so those frames may or may not be there.
    frames = [frame.rstrip() for frame in screen.getvalue().split("\r") if frame.strip()]
    assert frames[0].startswith("discover motifs:   0%|") and "| 0/150 [" in frames[0]
    shown = [re.search(r"\| (\d+)/150 \[.*, (\w+)\]$", frame).groups() for frame in frames[1:]]
    attributed = [int(done) for done, stage in shown if stage == "attributing"]
    assert 128 in attributed and attributed == sorted(attributed) and set(attributed) <= {64, 128, 150}
    assert [(done, stage) for done, stage in shown if stage != "attributing"] == [
        ("150", "discovering"),
        ("150", "discovering"),
        ("150", "matching"),
        ("150", "matching"),  # the close
    ]
    assert screen.getvalue().endswith("\n") and "motiflens:" not in screen.getvalue()
    assert capsys.readouterr().out == ""  # nothing on stdout


@pytest.mark.parametrize(("options", "stream"), [((), io.StringIO()), (("--no-progress",), Terminal())])
def test_motifs_discover_prints_event_lines_to_a_pipe_or_with_no_progress(monkeypatch, options, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    with DiscoveryProgress(_discover_args(*options)) as progress:
        for event in DISCOVERY_EVENTS:
            progress(*event)
        assert progress.bar is None
    assert stream.getvalue().splitlines() == [
        "motiflens: attributing 64/150  1 s",
        "motiflens: attributing 128/150  2 s",
        "motiflens: attributing 150/150  3 s",
        "motiflens: discovering  13 s",
        "motiflens: discovering  23 s",
        "motiflens: matching  30 s",
    ]
