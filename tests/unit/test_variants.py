"""Variant effects against known answers: a constructed model whose only filter is a planted PWM.

The model scores the log-odds of CTCF (MA0139.1) with an exponential activation, mean
over positions, then a linear logit. The genome holds one CTCF consensus site. A SNV
that breaks the site's most informative base must lower the logit a lot; one 20 nt
away from it barely changes it; and every SNV's effect is the ISM value of its window
at that position and base (the same calculation). The VCF rules (multi-allelic
splitting, REF mismatch, contig naming, symbolic alleles, indels, chromosome ends) and
malformed files are checked one by one.
"""

from __future__ import annotations

import gzip

import keras
import numpy as np
import pysam
import pytest

from motiflens.attribution import attribute
from motiflens.errors import InvalidInputError
from motiflens.genome import Genome
from motiflens.motifs import jaspar_motif
from motiflens.variants import allele_maps, read_vcf, variant_effects, variant_windows

LENGTH = 100
SITE = 300  # 0-based start of the planted CTCF consensus on chr1
PWM = jaspar_motif("MA0139.1").pwm
CONSENSUS = "".join("ACGT"[i] for i in PWM.argmax(axis=1))
#: The site's most informative position, and its least likely base there.
BEST = int(np.argmax(PWM.max(axis=1)))
WORST_BASE = "ACGT"[int(PWM[BEST].argmin())]
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def ctcf_detector() -> keras.Model:
    inputs = keras.Input((LENGTH, 4))
    conv = keras.layers.Conv1D(1, len(PWM), padding="same", name="conv1")
    x = keras.layers.Activation("exponential")(conv(inputs))
    x = keras.layers.GlobalAveragePooling1D()(x)
    logits = keras.layers.Dense(1, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(logits(x)))
    kernel = np.log2(np.clip(PWM, 0.01, None) / 0.25)[:, :, None].astype(np.float32)
    conv.set_weights([0.5 * kernel, np.array([-0.5 * kernel.max(axis=1).sum()], np.float32)])
    logits.set_weights([np.full((1, 1), 500.0, np.float32), np.array([-3.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def model() -> keras.Model:
    return ctcf_detector()


@pytest.fixture(scope="module")
def genome(tmp_path_factory) -> Genome:
    rng = np.random.default_rng(0)
    chrom = list("".join(rng.choice(list("ACGT"), 700)))
    chrom[SITE : SITE + len(CONSENSUS)] = CONSENSUS
    folder = tmp_path_factory.mktemp("genome")
    text = ">chr1\n" + "".join(chrom) + "\n>chr2\n" + "".join(rng.choice(list("ACGT"), 300)) + "\n"
    (folder / "genome.fa").write_text(text)
    with Genome.open(folder / "genome.fa") as opened:
        yield opened


def base(genome: Genome, chrom: str, pos: int) -> str:
    return genome.fetch(chrom, pos - 1, pos)


def write_vcf(path, lines: list[str]) -> str:
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return str(path)


def test_breaking_the_motif_costs_much_and_the_effect_is_the_ism_value(model, genome, tmp_path):
    hit = SITE + BEST + 1  # 1-based
    near = SITE - 20
    ref_hit, ref_near = base(genome, "chr1", hit), base(genome, "chr1", near)
    alt_near = next(b for b in "ACGT" if b != ref_near)
    path = write_vcf(
        tmp_path / "a.vcf",
        [
            f"chr1\t{hit}\tbreak\t{ref_hit}\t{WORST_BASE}\t.\t.\t.",
            f"chr1\t{near}\tnear\t{ref_near}\t{alt_near}\t.\t.\t.",
        ],
    )
    variants = read_vcf(path)
    windows = variant_windows(genome, variants, LENGTH)
    assert [v.id for v in windows.variants] == ["break", "near"] and not windows.skipped
    # The windows hold the genome, the variant's base at L // 2, and differ only there.
    centre = LENGTH // 2
    assert windows.ref[0, centre].argmax() == "ACGT".index(ref_hit)
    assert windows.alt[0, centre].argmax() == "ACGT".index(WORST_BASE)
    assert np.array_equal(np.delete(windows.ref, centre, axis=1), np.delete(windows.alt, centre, axis=1))
    effects = variant_effects(model, windows, output="logit")
    broken, nearby = effects.effect[:, 0]
    assert broken < -1.0, broken
    assert abs(nearby) < 0.05 * abs(broken), (broken, nearby)
    # ISM is the same calculation: its value at (L // 2, alt base) of the ref window.
    ism = attribute(model, windows.ref, "ism", target=0, output="logit").scores
    for row, variant in enumerate(windows.variants):
        assert ism[row, centre, "ACGT".index(variant.alt)] == pytest.approx(
            float(effects.effect[row, 0]), abs=1e-4
        )
    probability = variant_effects(model, windows, output="probability")
    assert probability.effect[0, 0] < 0 and np.all(np.abs(probability.effect) <= 1)
    # Both strands: the mean of the window's and its reverse complement's predictions.
    both = variant_effects(model, windows, output="logit", both_strands=True)
    assert both.effect.shape == effects.effect.shape and both.effect[0, 0] < 0
    # Attribution around the variant at both alleles: ISM maps of 2 x 5 + 1 positions.
    ref_maps, alt_maps, first = allele_maps(model, windows, method="ism", flank=5)
    assert ref_maps.shape == alt_maps.shape == (2, 11, 4) and first == centre - 5
    assert ref_maps[0, 5, "ACGT".index(WORST_BASE)] == pytest.approx(float(broken), abs=1e-4)


def test_the_vcf_rules_split_skip_rename_and_pad(genome, tmp_path):
    hit = SITE + BEST + 1
    ref_hit = base(genome, "chr1", hit)
    wrong = next(b for b in "ACGT" if b != ref_hit)
    two = genome.fetch("chr1", 399, 401)  # positions 400-401
    end = base(genome, "chr2", 299)
    first = base(genome, "chr1", 10)
    others = ",".join([b for b in "ACGT" if b != ref_hit][:2])
    path = write_vcf(
        tmp_path / "rules.vcf",
        [
            f"chr1\t{hit}\tmulti\t{ref_hit}\t{others}\t.\t.\t.",
            f"chr1\t{hit}\tmismatch\t{wrong}\tA\t.\t.\t.",
            f"2\t150\trenamed\t{base(genome, 'chr2', 150)}\tA\t.\t.\t.",
            "chrUn\t5\tunknown\tA\tC\t.\t.\t.",
            f"chr1\t{hit}\tsymbolic\t{ref_hit}\t<DEL>\t.\t.\t.",
            f"chr1\t400\tdeletion\t{two}\t{two[0]}\t.\t.\t.",
            f"chr1\t400\tinsertion\t{two[0]}\t{two[0]}GGG\t.\t.\t.",
            f"chr2\t299\tend\t{end}\tA\t.\t.\t.",
            f"chr1\t10\tlong\t{first}\t{first * 60}\t.\t.\t.",
        ],
    )
    variants = read_vcf(path)
    assert [(v.id, v.allele) for v in variants][:2] == [("multi", 1), ("multi", 2)]
    assert [v.record for v in variants] == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    windows = variant_windows(genome, variants, LENGTH)
    reasons = {s.variant.id: s.reason for s in windows.skipped}
    assert {s.variant.id: s.category for s in windows.skipped} == {
        "mismatch": "ref_mismatch",
        "unknown": "unknown_contig",
        "symbolic": "symbolic",
        "long": "too_long",
    }
    assert reasons["mismatch"].startswith(f"REF mismatch: the genome has '{ref_hit}'")
    assert "not in the genome" in reasons["unknown"]
    assert "symbolic" in reasons["symbolic"]
    assert "does not fit" in reasons["long"]
    scored = [v.id for v in windows.variants]
    assert scored == ["multi", "multi", "renamed", "deletion", "insertion", "end"]
    assert windows.renamed == 1 and windows.padded == 1
    # A deletion: the alt window is the left flank, the kept base, then what followed the deleted one.
    row = scored.index("deletion")
    expected = genome.fetch("chr1", 399 - LENGTH // 2, 400) + genome.fetch("chr1", 401, 401 + LENGTH // 2 - 1)
    assert "".join("ACGT"[i] for i in windows.alt[row].argmax(axis=1)) == expected
    # An insertion: the ALT bases at the centre, the genome after REF trimmed to L.
    row = scored.index("insertion")
    text = "".join("ACGT"[i] for i in windows.alt[row].argmax(axis=1))
    assert text[LENGTH // 2 : LENGTH // 2 + 4] == two[0] + "GGG" and len(text) == LENGTH
    # Past the end of chr2 (300 nt): N columns, all zero.
    row = scored.index("end")
    assert windows.ref[row, -1].sum() == 0 and windows.ref[row, LENGTH // 2].sum() == 1


def test_malformed_files_are_refused_naming_the_problem(tmp_path):
    no_header = tmp_path / "no_header.vcf"
    no_header.write_text("##fileformat=VCFv4.2\nchr1\t10\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InvalidInputError, match="#CHROM"):
        read_vcf(no_header)
    plain = tmp_path / "many.vcf"
    plain.write_text(HEADER + "".join(f"chr1\t{i}\t.\tA\tG\t.\t.\t.\n" for i in range(1, 3001)))
    bgzipped = str(tmp_path / "many.vcf.gz")
    pysam.tabix_compress(str(plain), bgzipped)
    assert len(read_vcf(bgzipped)) == 3000  # bgzip reads as plain
    truncated = tmp_path / "truncated.vcf.gz"
    truncated.write_bytes(open(bgzipped, "rb").read()[:-3000])
    with pytest.raises(InvalidInputError, match="truncated or corrupt|not a readable"):
        read_vcf(truncated)
    garbage = tmp_path / "garbage.vcf.gz"
    garbage.write_bytes(gzip.compress(b"\x00\x01 not a vcf at all"))
    with pytest.raises(InvalidInputError):
        read_vcf(garbage)
    with pytest.raises(InvalidInputError, match="more than 10 records"):
        read_vcf(plain, max_records=10)
