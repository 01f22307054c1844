"""Dtype names shared by every backend: one spelling, and promotion for abstract arrays.

A dtype is named as NumPy names it (``"float32"``, ``"int64"``, ``"bool"``), plus
``"bfloat16"``, which NumPy lacks but every framework trains with.  :func:`dtype_name`
accepts those names and the dtype objects of NumPy, PyTorch and JAX; :func:`result_dtype`
promotes like NumPy, with ``bfloat16`` placed as the frameworks place it (``bfloat16`` with
``float16`` gives ``float32``; with integers or Python numbers it stays ``bfloat16``).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from einx_typed.errors import OperationError

__all__ = [
    "DTYPE_NAMES",
    "FLOAT_NAMES",
    "dtype_name",
    "is_floating_name",
    "numpy_dtype",
    "result_dtype",
]

FLOAT_NAMES: Final = ("float16", "bfloat16", "float32", "float64")
"""The floating dtypes that layers train with."""

DTYPE_NAMES: Final = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        *FLOAT_NAMES,
        "complex64",
        "complex128",
    }
)
"""Every dtype name an abstract array may carry."""

_ALIASES: Final = {"half": "float16", "float": "float32", "double": "float64", "long": "int64"}


def dtype_name(dtype: object) -> str:
    """The canonical name of ``dtype``: a name, or a NumPy, PyTorch or JAX dtype object.

    Raises :class:`~einx_typed.errors.OperationError` for anything else.
    """
    if isinstance(dtype, str):
        text = dtype
    elif isinstance(dtype, np.dtype):
        text = dtype.name
    elif isinstance(dtype, type) and issubclass(dtype, np.generic):
        text = np.dtype(dtype).name
    else:
        # torch.float32 prints as "torch.float32"; jnp.bfloat16 is a scalar type whose
        # dtype ml_dtypes names; anything else falls through to the error.
        text = str(getattr(dtype, "dtype", dtype)).removeprefix("torch.")
    name = _ALIASES.get(text, text)
    if name not in DTYPE_NAMES:
        raise OperationError(
            f"Unknown dtype {dtype!r}.",
            hint=f"Use one of {', '.join(sorted(DTYPE_NAMES))}, or a NumPy, PyTorch or JAX "
            "dtype object.",
        )
    return name


def is_floating_name(name: str) -> bool:
    """Whether the canonical dtype ``name`` is a real floating dtype."""
    return name in FLOAT_NAMES


def numpy_dtype(name: str) -> np.dtype[np.generic]:
    """The NumPy dtype of a canonical name; ``bfloat16`` comes from ``ml_dtypes``."""
    if name == "bfloat16":
        import ml_dtypes

        bfloat16: np.dtype[np.generic] = np.dtype(ml_dtypes.bfloat16)
        return bfloat16
    return np.dtype(name)


def result_dtype(*operands: str | type) -> str:
    """The dtype of combining ``operands``: dtype names, or ``bool``/``int``/``float``/
    ``complex`` for Python scalars, which are weak (they never widen an array's dtype).
    """
    names = [o for o in operands if isinstance(o, str)]
    if "bfloat16" not in names:
        # A Python scalar's value (not its type) is weak in NumPy's promotion.
        values = [o if isinstance(o, str) else o(0) for o in operands]
        return str(np.result_type(*values))
    strong_floats = {n for n in names if n in FLOAT_NAMES or n.startswith("complex")}
    if "float16" in strong_floats:
        strong_floats = (strong_floats - {"float16", "bfloat16"}) | {"float32"}
    strong_floats.discard("bfloat16")
    if not strong_floats:
        return "bfloat16"
    return str(np.result_type(*strong_floats))
