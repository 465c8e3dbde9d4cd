import gzip
from pathlib import Path

import numpy as np
import pytest
from Bio import bgzf

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.genome import (
    Genome,
    Interval,
    WindowCounts,
    background_windows,
    centred_window,
    chromosome_split,
    extract_windows,
    gc_content,
    gc_matched_windows,
    label_windows,
    random_split,
    read_bed,
    shuffled_windows,
)
from motiflens.sequences import decode, dinucleotide_counts, one_hot

MOTIF = "TTGACGTCAA"
MOTIF_SITES = {"chr1": [500, 1500, 2500], "chr2": [500]}
N_BLOCK = (1000, 1300)  # on chr2
SOFT_MASKED = (2000, 2100)  # on chr2, written in lower case


def _random_dna(rng, length, gc):
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), length, p=p))


def _chromosomes():
    """chr1: GC-rich first 8 kb, AT-rich last 4 kb; chr2 with an N block and soft-masking; chr3 short."""
    rng = np.random.default_rng(0)
    chroms = {
        "chr1": _random_dna(rng, 8000, 0.7) + _random_dna(rng, 4000, 0.3),
        "chr2": _random_dna(rng, 3000, 0.5),
        "chr3": _random_dna(rng, 500, 0.5),
    }
    for chrom, sites in MOTIF_SITES.items():
        for site in sites:
            chroms[chrom] = chroms[chrom][:site] + MOTIF + chroms[chrom][site + len(MOTIF) :]
    chr2 = chroms["chr2"]
    chr2 = chr2[: N_BLOCK[0]] + "N" * (N_BLOCK[1] - N_BLOCK[0]) + chr2[N_BLOCK[1] :]
    chroms["chr2"] = (
        chr2[: SOFT_MASKED[0]] + chr2[SOFT_MASKED[0] : SOFT_MASKED[1]].lower() + chr2[SOFT_MASKED[1] :]
    )
    return chroms


CHROMS = _chromosomes()
UPPER = {chrom: sequence.upper() for chrom, sequence in CHROMS.items()}


def _fasta_text(chroms):
    lines = []
    for name, sequence in chroms.items():
        lines.append(f">{name} test chromosome")
        lines.extend(sequence[i : i + 60] for i in range(0, len(sequence), 60))
    return "\n".join(lines) + "\n"


@pytest.fixture
def plain_fasta(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text(_fasta_text(CHROMS))
    return path


@pytest.fixture
def bgzip_fasta(tmp_path):
    path = tmp_path / "genome.fa.gz"
    with bgzf.BgzfWriter(str(path), "wb") as handle:
        handle.write(_fasta_text(CHROMS).encode())
    return path


@pytest.fixture(params=["plain", "bgzip"])
def genome(request, plain_fasta, bgzip_fasta):
    path = plain_fasta if request.param == "plain" else bgzip_fasta
    with Genome.open(path) as opened:
        yield opened


def _expected_one_hot(sequences):
    return one_hot(sequences).astype(np.uint8)


# --------------------------------------------------------------------------- genome access


def test_genome_sizes_fetch_upper_case_and_index_next_to_fasta(genome):
    assert genome.sizes == {"chr1": 12000, "chr2": 3000, "chr3": 500}
    for chrom, sites in MOTIF_SITES.items():
        for site in sites:
            assert genome.fetch(chrom, site, site + len(MOTIF)) == MOTIF
    masked = genome.fetch("chr2", *SOFT_MASKED)
    assert masked == UPPER["chr2"][SOFT_MASKED[0] : SOFT_MASKED[1]]
    assert masked != CHROMS["chr2"][SOFT_MASKED[0] : SOFT_MASKED[1]]  # the file really is lower case there
    assert genome.fetch("chr3", 0, 500) == UPPER["chr3"]
    assert Path(f"{genome.path}.fai").is_file()
    assert Path(f"{genome.path}.gzi").is_file() == genome.path.name.endswith(".gz")


def test_genome_index_dir_keeps_fasta_folder_untouched(tmp_path, bgzip_fasta):
    index_dir = tmp_path / "indexes"
    index_dir.mkdir()
    with Genome.open(bgzip_fasta, index_dir=index_dir) as genome:
        assert genome.fetch("chr1", 500, 510) == MOTIF
    assert sorted(p.name for p in index_dir.iterdir()) == ["genome.fa.gz.fai", "genome.fa.gz.gzi"]
    assert not Path(f"{bgzip_fasta}.fai").exists()


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 5), (10, 3), (11990, 12001)])
def test_fetch_out_of_range_is_refused(plain_fasta, start, end):
    with (
        Genome.open(plain_fasta) as genome,
        pytest.raises(InvalidInputError, match=r"region: expected 0 <= start"),
    ):
        genome.fetch("chr1", start, end)


# --------------------------------------------------------------------------- windows


NARROWPEAK = (
    "track name=peaks type=narrowPeak\n"
    "# a comment\n"
    "\n"
    "chr1\t400\t700\tpeak1\t0\t.\t5.0\t-1\t-1\t105\n"  # summit 505
    "chr2\t450\t650\tpeak2\t0\t.\t7.5\t-1\t-1\t-1\n"  # no summit: midpoint 550
)


def test_windows_centre_on_summit_or_midpoint(genome):
    peaks = read_bed(NARROWPEAK)
    assert [p.summit for p in peaks] == [505, None]
    X, kept, counts = extract_windows(genome, peaks, length=20)
    assert X.shape == (2, 20, 4) and X.dtype == np.uint8 and kept.dtype == np.int64
    assert decode(X) == [UPPER["chr1"][495:515], UPPER["chr2"][540:560]]
    assert decode(X)[0][5:15] == MOTIF  # the planted motif sits at the summit
    assert counts == WindowCounts(requested=2, kept=2)

    X_mid, _, _ = extract_windows(genome, peaks, length=20, centre="midpoint")
    assert decode(X_mid) == [UPPER["chr1"][540:560], UPPER["chr2"][540:560]]

    # Odd length: the centre base is base L // 2 of the window.
    X_odd, _, _ = extract_windows(genome, peaks[:1], length=21)
    assert decode(X_odd) == [UPPER["chr1"][495:516]]
    window = centred_window(peaks[0], length=21)
    assert (window.start, window.end, window.summit) == (495, 516, 505)


def test_windows_off_end_and_n_rich_are_dropped_and_counted(genome):
    intervals = [
        Interval("chr3", 0, 20),  # midpoint 10: window [-40, 60) runs off the start
        Interval("chr3", 480, 500),  # midpoint 490: window [440, 540) runs off the end of 500 nt
        Interval("chr2", 1100, 1200),  # inside the N block
        Interval("chr2", 990, 1010),  # window [950, 1050): 50 % N
        Interval("chr2", 950, 960),  # window [905, 1005): exactly 5 % N, kept
        Interval("chr3", 200, 300),  # window [200, 300), kept
        Interval("chr2", 900, 1100),  # window [950, 1050) again
    ]
    X, kept, counts = extract_windows(genome, intervals, length=100)
    assert counts == WindowCounts(requested=7, kept=2, off_chromosome_end=2, too_many_n=3)
    assert kept.tolist() == [4, 5]
    expected = [UPPER["chr2"][905:1005], UPPER["chr3"][200:300]]
    np.testing.assert_array_equal(X, _expected_one_hot(expected))
    assert X[0, 95:].sum() == 0  # N columns are all zero

    X_loose, kept_loose, counts_loose = extract_windows(genome, intervals, length=100, max_n_fraction=0.5)
    assert kept_loose.tolist() == [3, 4, 5, 6]
    assert counts_loose == WindowCounts(requested=7, kept=4, off_chromosome_end=2, too_many_n=1)
    assert decode(X_loose)[0] == UPPER["chr2"][950:1050]


def test_extract_windows_with_every_window_dropped_still_counts(genome):
    X, kept, counts = extract_windows(
        genome, [Interval("chr3", 0, 20), Interval("chr3", 480, 500)], length=200
    )
    assert X.shape == (0, 200, 4) and kept.shape == (0,)
    assert counts == WindowCounts(requested=2, kept=0, off_chromosome_end=2)


# --------------------------------------------------------------------------- BED parsing


def test_read_bed_narrowpeak_bed3_labels_and_gzip(tmp_path):
    peaks = read_bed(NARROWPEAK, label_column=7)
    assert peaks == [
        Interval("chr1", 400, 700, 505, "peak1", 5.0),
        Interval("chr2", 450, 650, None, "peak2", 7.5),
    ]
    bed3 = "browser position chr1:1-100\nchr1 10 20\nchr2\t5\t9\tname with space\t3\n"
    assert read_bed(bed3) == [Interval("chr1", 10, 20), Interval("chr2", 5, 9, None, "name with space")]
    path = tmp_path / "peaks.narrowPeak.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(NARROWPEAK)
    assert read_bed(path, label_column=7) == peaks
    plain = tmp_path / "peaks.bed"
    plain.write_text(NARROWPEAK)
    assert read_bed(plain) == read_bed(NARROWPEAK)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "#h\nchr1\t100\t50\n",
            r"bed: line 2: end 50 is not greater than start 100; BED intervals are half-open",
        ),
        ("chr1\t100\t100\n", r"bed: line 1: end 100 is not greater than start 100"),
        (
            "track x\n\nchr1\t5\n",
            r"bed: line 3: expected at least 3 columns \(chrom, start, end\), got 2; accepted",
        ),
        ("chr1\t5.5\t10\n", r"bed: line 1: start '5\.5' is not an integer"),
        ("chr1\t5\t1_000\n", r"bed: line 1: end '1_000' is not an integer"),
        ("chr1\t-5\t10\n", r"bed: line 1: start -5 is negative"),
        (
            "chr1\t400\t700\tp\t0\t.\t1\t-1\t-1\t300\n",
            r"bed: line 1: summit offset 300 lies outside the interval \[400, 700\); "
            r"narrowPeak column 10 must be in \[0, 300\) or -1",
        ),
        (
            "chr1\t400\t700\tp\t0\t.\t1\t-1\t-1\tx\n",
            r"line 1: narrowPeak summit offset \(column 10\) 'x' is not",
        ),
    ],
)
def test_read_bed_errors_name_line_and_problem(text, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        read_bed(text)
    assert info.value.field == "bed"


def test_read_bed_limits_and_labels():
    with pytest.raises(InvalidInputError, match=r"peaks: line 3: more than max_intervals=2 intervals"):
        read_bed("chr1\t0\t1\nchr1\t1\t2\nchr1\t2\t3\n", field="peaks", max_intervals=2)
    with pytest.raises(InvalidInputError, match=r"bed: line 2: longer than 64 KiB"):
        read_bed("chr1\t0\t1\nchr1\t0\t10\t" + "x" * 70_000 + "\n")
    assert len(read_bed("chr1\t0\t10\t" + "x" * 60_000 + "\n")) == 1
    with pytest.raises(
        InvalidInputError, match=r"bed: line 1: label in column 5 is 'nan'; expected a finite"
    ):
        read_bed("chr1\t0\t10\tp\tnan\n", label_column=5)
    with pytest.raises(InvalidInputError, match=r"bed: line 1: label_column 5 is missing"):
        read_bed("chr1\t0\t10\n", label_column=5)
    with pytest.raises(InvalidInputError, match=r"label_column: expected a 1-based column >= 4"):
        read_bed("chr1\t0\t10\n", label_column=2)


def test_read_bed_file_errors(tmp_path):
    with pytest.raises(NotFoundError, match=r"no such BED file"):
        read_bed(tmp_path / "missing.bed")
    with pytest.raises(InvalidInputError, match=r"a str source is BED text, pass a pathlib.Path"):
        read_bed(str(tmp_path / "peaks.bed"))
    path = tmp_path / "cut.bed.gz"
    lines = "".join(f"chr1\t{i}\t{i + 10}\n" for i in range(0, 50_000, 7))
    data = gzip.compress(lines.encode())
    assert len(data) > 2000
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        InvalidInputError, match=r"cut\.bed\.gz: line \d+: cannot read .*truncated or corrupt"
    ):
        read_bed(path)


# --------------------------------------------------------------------------- request errors


def test_contig_missing_and_chr_prefix_hint(genome):
    with pytest.raises(
        InvalidInputError, match=r"intervals\[1\]\.chrom: contig 'chrZ' is not in the genome"
    ) as info:
        extract_windows(genome, [Interval("chr1", 0, 100), Interval("chrZ", 0, 100)], length=10)
    assert "its contigs are chr1, chr2, chr3" in str(info.value)
    assert "naming differs" not in str(info.value)
    peaks = read_bed("1\t100\t200\n")
    with pytest.raises(
        InvalidInputError,
        match=r"contig '1' is not in the genome .*genome/BED contig naming differs: the genome has 'chr1'",
    ):
        extract_windows(genome, peaks, length=10)


def test_window_longer_than_the_chromosomes_is_a_request_error(genome):
    with pytest.raises(
        InvalidInputError, match=r"length: a window of 600 nt is longer than every chromosome .*500 nt"
    ):
        extract_windows(genome, [Interval("chr3", 200, 300)], length=600)
    with pytest.raises(
        InvalidInputError, match=r"length: expected an integer from 1 to 100000 nt, got 100001"
    ):
        extract_windows(genome, [Interval("chr1", 200, 300)], length=100_001)
    with pytest.raises(
        InvalidInputError, match=r"max_n_fraction: expected a finite number in \[0, 1\], got nan"
    ):
        extract_windows(genome, [Interval("chr1", 200, 300)], length=10, max_n_fraction=float("nan"))
    with pytest.raises(InvalidInputError, match=r"centre: expected 'summit' or 'midpoint'"):
        extract_windows(genome, [Interval("chr1", 200, 300)], length=10, centre="peak")


def test_plain_gzip_fasta_is_refused(tmp_path):
    path = tmp_path / "plain.fa.gz"
    path.write_bytes(gzip.compress(_fasta_text(CHROMS).encode()))
    with pytest.raises(
        InvalidInputError, match=r"plain\.fa\.gz is compressed with plain gzip.*recompress it with bgzip"
    ):
        Genome.open(path)
    assert not Path(f"{path}.fai").exists()


@pytest.mark.parametrize("keep", [5, 100, 1000, 2000, -28, -1])
def test_truncated_bgzip_gives_a_clear_error(tmp_path, bgzip_fasta, keep):
    data = bgzip_fasta.read_bytes()
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(data[:keep])
    with pytest.raises(InvalidInputError, match=r"genome: .*cut\.fa\.gz.* truncated") as info:
        Genome.open(path)
    assert info.value.field == "genome"


def test_other_fasta_problems(tmp_path):
    with pytest.raises(NotFoundError, match=r"no such FASTA file"):
        Genome.open(tmp_path / "missing.fa")
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">a\nACGTAC\nACG\nACGTAC\n")
    with pytest.raises(InvalidInputError, match=r"cannot read .*ragged\.fa as a FASTA genome: Line length"):
        Genome.open(ragged)
    fake = tmp_path / "fake.fa.gz"
    fake.write_text(">a\nACGT\n")
    with pytest.raises(InvalidInputError, match=r"named \.gz but is not gzip-compressed"):
        Genome.open(fake)


# --------------------------------------------------------------------------- labels and splits


def test_label_windows_two_tracks_by_hand():
    windows = [
        Interval("chr1", 0, 10),  # centre 5
        Interval("chr1", 10, 20),  # centre 15
        Interval("chr2", 0, 11),  # centre 5
        Interval("chr1", 100, 110),  # centre 105
        Interval("chrX", 0, 10),  # no peaks on chrX
    ]
    track_a = [Interval("chr1", 5, 6), Interval("chr1", 16, 30), Interval("chr2", 0, 5)]
    # A long peak starting first must still cover 105 though a later, shorter one does not.
    track_b = [Interval("chr1", 50, 51), Interval("chr2", 5, 6), Interval("chr1", 0, 120)]
    labels = label_windows(windows, [track_a, track_b])
    assert labels.dtype == np.float32 and labels.shape == (5, 2)
    np.testing.assert_array_equal(labels, [[1, 1], [0, 1], [0, 1], [0, 1], [0, 0]])
    # Against a direct scan of every peak.
    brute = [
        [
            float(any(p.chrom == w.chrom and p.start <= (w.start + w.end) // 2 < p.end for p in t))
            for t in (track_a, track_b)
        ]
        for w in windows
    ]
    np.testing.assert_array_equal(labels, brute)
    with pytest.raises(InvalidInputError, match=r"tracks: expected at least one list of peaks"):
        label_windows(windows, [])


def test_chromosome_split():
    chroms = ["chr1", "chr2", "chr3", "chr1", "chr8"]
    splits = chromosome_split(chroms, valid_chroms=["chr2"], test_chroms=["chr3", "chr8"])
    assert splits.tolist() == ["train", "valid", "test", "train", "test"]
    with pytest.raises(InvalidInputError, match=r"test_chroms: chr2 also in valid_chroms") as info:
        chromosome_split(chroms, valid_chroms=["chr2"], test_chroms=["chr2", "chr3"])
    assert info.value.field == "test_chroms"
    with pytest.raises(
        InvalidInputError, match=r"valid_chroms: no window lies on chr9; windows lie on chr1, chr2"
    ):
        chromosome_split(chroms, valid_chroms=["chr9"], test_chroms=["chr3"])


def test_random_split_sizes_and_seed():
    splits = random_split(10, seed=3)
    assert [int((splits == name).sum()) for name in ("train", "valid", "test")] == [7, 1, 2]
    order = np.random.default_rng(3).permutation(10)
    assert set(np.flatnonzero(splits == "train")) == set(order[:7].tolist())
    assert splits.tolist() == random_split(10, seed=3).tolist()
    assert splits.tolist() != random_split(10, seed=4).tolist()
    with pytest.raises(InvalidInputError, match=r"fractions: expected 3 positive fractions"):
        random_split(10, seed=0, fractions=(0.5, 0.5, 0.5))


# --------------------------------------------------------------------------- negatives


def _gc_rich_positives(genome, length=100):
    """Ten windows of 100 nt in the GC-rich first half of chr1."""
    peaks = [Interval("chr1", centre - 5, centre + 5) for centre in range(200, 3800, 360)]
    X, kept, counts = extract_windows(genome, peaks, length=length)
    assert counts.kept == len(peaks) == 10
    return X, [centred_window(peaks[i], length=length) for i in kept]


def _overlaps(a, b):
    return a.chrom == b.chrom and a.start < b.end and b.start < a.end


def test_gc_matched_negatives_match_gc_and_avoid_positives(genome):
    X_pos, windows_pos = _gc_rich_positives(genome)
    positive_gc = gc_content(X_pos).mean()
    genome_gc = gc_content(one_hot(["".join(UPPER.values()).replace("N", "")])).mean()
    assert positive_gc > 0.6 and abs(positive_gc - genome_gc) > 0.1  # unmatched negatives would fail below

    X_neg, windows_neg, counts = gc_matched_windows(genome, X_pos, windows_pos, count=20, length=100, seed=1)
    assert X_neg.shape == (20, 100, 4) and X_neg.dtype == np.uint8
    assert counts.found == 20 and counts.requested == 20 and counts.tries <= 2000
    assert counts.found_per_bin.tolist() == counts.target_per_bin.tolist()
    assert abs(gc_content(X_neg).mean() - positive_gc) < 0.05
    assert not any(_overlaps(n, p) for n in windows_neg for p in windows_pos)
    assert not any(_overlaps(a, b) for i, a in enumerate(windows_neg) for b in windows_neg[i + 1 :])
    assert decode(X_neg) == [UPPER[w.chrom][w.start : w.end] for w in windows_neg]

    again, windows_again, _ = gc_matched_windows(genome, X_pos, windows_pos, count=20, length=100, seed=1)
    np.testing.assert_array_equal(again, X_neg)
    assert windows_again == windows_neg
    _, windows_other, _ = gc_matched_windows(genome, X_pos, windows_pos, count=20, length=100, seed=2)
    assert windows_other != windows_neg


def test_gc_matched_stops_on_a_genome_too_small(tmp_path):
    path = tmp_path / "tiny.fa"
    sequence = _random_dna(np.random.default_rng(5), 300, 0.5)
    path.write_text(f">tiny\n{sequence}\n")
    positives = [Interval("tiny", 0, 100), Interval("tiny", 200, 300)]
    with Genome.open(path) as genome:
        X_pos = _expected_one_hot([sequence[0:100], sequence[200:300]])
        X, windows, counts = gc_matched_windows(
            genome, X_pos, positives, count=3, length=100, seed=0, max_tries=5000, bins=1
        )
    # Only the window [100, 200) avoids both positives.
    assert windows == [Interval("tiny", 100, 200, None, "gc_matched")]
    assert decode(X) == [sequence[100:200]]
    assert (counts.requested, counts.found, counts.tries) == (3, 1, 5000)


def test_shuffled_negatives_keep_dinucleotide_counts(genome):
    X_pos, _ = _gc_rich_positives(genome)
    shuffled = shuffled_windows(X_pos, seed=0)
    assert shuffled.shape == X_pos.shape and shuffled.dtype == np.uint8
    # int64 first: uint8 would overflow counting.
    np.testing.assert_array_equal(
        dinucleotide_counts(shuffled.astype(np.int64)), dinucleotide_counts(X_pos.astype(np.int64))
    )
    assert not np.array_equal(shuffled, X_pos)
    np.testing.assert_array_equal(shuffled_windows(X_pos, seed=0), shuffled)
    assert not np.array_equal(shuffled_windows(X_pos, seed=1), shuffled)


def test_background_windows_exclude_positives_and_sample_by_seed(genome):
    _, windows_pos = _gc_rich_positives(genome)
    background = [Interval("chr1", start, start + 10) for start in range(100, 7900, 200)]  # 39 intervals
    X, index, counts = background_windows(genome, background, length=100, seed=0, exclude=windows_pos)
    overlapping = [
        i
        for i, b in enumerate(background)
        if any(_overlaps(centred_window(b, length=100), p) for p in windows_pos)
    ]
    assert counts == WindowCounts(
        requested=39, kept=39 - len(overlapping), overlapping_excluded=len(overlapping)
    )
    assert len(overlapping) > 0 and set(index.tolist()) == set(range(39)) - set(overlapping)

    X5, index5, counts5 = background_windows(
        genome, background, length=100, seed=7, count=5, exclude=windows_pos
    )
    assert X5.shape == (5, 100, 4) and counts5.kept == 5
    assert not set(index5.tolist()) & set(overlapping)
    assert decode(X5) == [UPPER["chr1"][b.start - 45 : b.start + 55] for b in (background[i] for i in index5)]
    _, again, _ = background_windows(genome, background, length=100, seed=7, count=5, exclude=windows_pos)
    _, other, _ = background_windows(genome, background, length=100, seed=8, count=5, exclude=windows_pos)
    assert again.tolist() == index5.tolist() and other.tolist() != index5.tolist()
