"""Node-feature engineering choices (``preprocess``, ``structural``): see :mod:`autoglm.core.features`."""

from autoglm.core.features import (
    DEFAULTS,
    PREPROCESS,
    SEARCH_SPACE,
    STRUCTURAL,
    WIDTH,
    choice_of,
    is_default,
    transform_for,
)

__all__ = ["DEFAULTS", "PREPROCESS", "SEARCH_SPACE", "STRUCTURAL", "WIDTH", "choice_of", "is_default", "transform_for"]
