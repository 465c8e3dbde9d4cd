"""A constructed model with known filters and sequences with planted sites (shared by service tests).

:func:`detector` is a Keras model whose two first-layer filters are the log-odds
matrices of CTCF (MA0139.1) and MEF2A (MA0052.3), followed by the paper's exponential
activation; :func:`planted_sequences` gives sequences each holding one sampled site
of one of them, with where it is.
"""

from __future__ import annotations

import keras
import numpy as np

from motiflens.motifs import jaspar_motif

LENGTH, WIDTH, PER_MOTIF = 120, 19, 160
PLANTED = ("MA0139.1", "MA0052.3")
EYE = np.eye(4, dtype=np.float32)


def log_odds(motif_id: str) -> np.ndarray:
    """log2(p / 0.25) of a JASPAR PWM, zero-padded to WIDTH columns; shape (WIDTH, 4)."""
    pwm = jaspar_motif(motif_id).pwm
    out = np.zeros((WIDTH, 4), np.float32)
    out[: len(pwm)] = np.log2(np.clip(pwm, 0.01, None) / 0.25)
    return out


def detector() -> keras.Model:
    """Conv (the two log-odds filters, scaled) -> exponential -> mean over positions -> sigmoid.

    The paper's exponential activation: chance matches still give small positive
    activations, so the attribution maps, like those of any trained model, are not exactly
    zero off the sites (TF-MoDISco's null model of window scores cannot be fitted to
    all-zero backgrounds), while sites dominate.
    """
    inputs = keras.Input((LENGTH, 4), name="dna")
    conv = keras.layers.Conv1D(2, WIDTH, padding="same", name="pwm_scan")
    x = keras.layers.Activation("exponential")(conv(inputs))
    x = keras.layers.Flatten()(keras.layers.AveragePooling1D(LENGTH)(x))
    head = keras.layers.Dense(1, activation="sigmoid", name="bound")
    model = keras.Model(inputs, head(x))
    kernel = np.stack([log_odds(m) for m in PLANTED], axis=-1)  # (WIDTH, 4, 2)
    best = kernel.max(axis=1).sum(axis=0)  # the best site's score per filter
    conv.set_weights([0.3 * kernel, -0.3 * 0.6 * best])
    head.set_weights([np.full((2, 1), LENGTH / 20, np.float32), np.array([-2.0], np.float32)])
    return model


def planted_sequences() -> tuple[list[str], list[tuple[int, int, int]]]:
    """2 x PER_MOTIF sequences, each with one sampled site of its motif; (motif, start, end) per row."""
    rng = np.random.default_rng(3)
    sequences, sites = [], []
    for index, motif_id in enumerate(PLANTED):
        pwm = jaspar_motif(motif_id).pwm
        for _ in range(PER_MOTIF):
            bases = rng.integers(0, 4, LENGTH)
            start = int(rng.integers(20, LENGTH - 20 - len(pwm)))
            bases[start : start + len(pwm)] = [rng.choice(4, p=row) for row in pwm]
            sequences.append("".join("ACGT"[b] for b in bases))
            sites.append((index, start, start + len(pwm)))
    return sequences, sites
