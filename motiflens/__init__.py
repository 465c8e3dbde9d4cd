"""motiflens core science library.

Sequences, the paper's synthetic tasks, the model zoo with interchangeable
first-layer activations, and the paper's training recipe (Koo & Ploenzke 2021).
This package knows nothing about gRPC or storage; the services wrap it.
"""

__version__ = "0.1.0"
