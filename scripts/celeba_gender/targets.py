"""The attribute a model predicts (its *target*) and how its classes and probability are named.

The study predicts CelebA's ``Male`` (label 1 = male, 0 = female). Any other CelebA attribute can
be a target; its classes are then ``not <attr>`` (0) and ``<attr>`` (1). Model files do not
record a target yet: callers pass it (default ``Male``). Standard library only.
"""

from __future__ import annotations

from celeba_gender.constants import CLASS_NAMES, LABEL_ATTRIBUTE


def class_names(target: str = LABEL_ATTRIBUTE) -> tuple[str, str]:
    """(name of label 0, name of label 1): female/male for Male, else not <attr>/<attr>."""
    if not target or not str(target).strip():
        raise ValueError("target must name a CelebA attribute, e.g. Male")
    return CLASS_NAMES if target == LABEL_ATTRIBUTE else (f"not {target}", str(target))


def probability_label(target: str = LABEL_ATTRIBUTE) -> str:
    """How the positive class's probability is written: ``P(Male)``."""
    return f"P({target})"


def probability_column(target: str = LABEL_ATTRIBUTE) -> str:
    """The column of that probability in printed tables: ``p_male``, ``p_smiling``."""
    return f"p_{str(target).lower()}"
