"""Parameter checks shared by the public functions (one message format)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from frisson.errors import ParameterError


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ParameterError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ParameterError(f"{name}={value!r} is not valid; choose one of {options}.")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0), else raise a ParameterError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ParameterError(f"{name} must be a finite number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name} must be {bound}, got {value!r}.")
    return float(value)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int (bools rejected), optionally with a lower bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)


def check_range_s(name: str, value: Any) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of seconds with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be a pair (low, high) in seconds, got {value!r}."
        ) from None
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ParameterError(f"{name} must be a finite pair with low <= high, got {value!r}.")
    return low, high


def rng_from_seed(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a numpy Generator; ``None`` is refused to keep every random step reproducible."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ParameterError(
            "seed=None is not allowed: pass an integer so results are reproducible."
        )
    return np.random.default_rng(check_int("seed", seed, minimum=0))
