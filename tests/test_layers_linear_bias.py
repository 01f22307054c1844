"""A Linear bias whose axes repeat together under one ellipsis, against einx 0.3.0.

NOTATION 5.2: the bias is every output axis whose name the weight uses, flattened, in
output order; ``b [c1->(h c2)]...`` with two repetitions has the bias ``h.0 c2.0 h.1 c2.1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from einx_typed.layers import LinearSpec

torch = pytest.importorskip("torch")
einn = pytest.importorskip("einx.nn.torch")

# (expr, input shape, axis values, bias shape by NOTATION 5.2, worked out by hand)
CASES: list[tuple[str, tuple[int, ...], dict[str, Any], tuple[int, ...]]] = [
    ("b [c1->(h c2)]...", (2, 3, 4), {"h": 2, "c2": 5}, (2, 5, 2, 5)),
    ("b ([c1->h c2])...", (2, 3, 4), {"h": 2, "c2": 5}, (2, 5, 2, 5)),
    ("b (s [c1->h c2])...", (2, 6, 4), {"h": 2, "c2": 5, "s": 2}, (2, 5, 2, 5)),
    ("b [c1->h c2]...", (2, 3, 4), {"h": 2, "c2": 5}, (2, 5, 2, 5)),
    ("b [c1->(h c2)...]", (2, 3), {"h": (2, 3), "c2": (5, 7)}, (2, 5, 3, 7)),
    ("b [c1->((h c2)... d)]", (2, 3), {"h": (2, 3), "c2": (1, 2), "d": 2}, (2, 1, 3, 2, 2)),
    # one bias axis per ellipsis: the ellipsis form of the bias keeps the order
    ("b (s t)... [c1->c2]", (2, 6, 6, 5), {"c2": 3, "s": 2}, (3,)),
    ("b (s [c1->c2])...", (2, 6, 8), {"c2": 3, "s": 2, "c1": (3, 4)}, (3, 3)),
    ("b [c1->c2 h...]", (2, 3), {"c2": 4, "h": (2, 3)}, (4, 2, 3)),
]


@pytest.mark.parametrize(("expr", "shape", "axes", "bias_shape"), CASES)
def test_bias_shape_follows_the_output_order(
    expr: str, shape: tuple[int, ...], axes: dict[str, Any], bias_shape: tuple[int, ...]
) -> None:
    resolved = LinearSpec(expr, axes=axes).resolve(shape)
    assert resolved.params["bias"].shape == bias_shape


@pytest.mark.parametrize(("expr", "shape", "axes", "bias_shape"), CASES)
def test_values_match_einx_0_3_0(
    expr: str, shape: tuple[int, ...], axes: dict[str, Any], bias_shape: tuple[int, ...]
) -> None:
    reference = einn.Linear(expr, **axes)
    x = torch.randn(*shape, dtype=torch.float64)
    reference(x.float())  # creates the (float32) parameters
    reference.double()
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.copy_(torch.randn(parameter.shape, dtype=torch.float64))
        expected = reference(x).numpy()
    params = {name: p.detach().numpy() for name, p in reference.named_parameters()}
    assert params["bias"].shape == bias_shape

    resolved = LinearSpec(expr, axes=axes).resolve(shape, "float64")
    assert {k: v.shape for k, v in resolved.params.items()} == {
        k: v.shape for k, v in params.items()
    }
    y, _ = resolved.apply(params, x.numpy())
    assert resolved.output_shape == expected.shape
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-12, atol=1e-12)


def test_expanded_bias_names_its_dimensions() -> None:
    resolved = LinearSpec("b [c1->(h c2)]...", axes={"h": 2, "c2": 5}).resolve((2, 3, 4))
    assert resolved.params["bias"].axes == ("h.0", "c2.0", "h.1", "c2.1")


def test_static_tables_of_an_expanded_bias() -> None:
    spec = LinearSpec("b [c1->(h c2)]...", axes={"h": 2, "c2": 5, "c1": (3, 4)})
    tables = spec.resolve_params()
    assert tables is not None
    assert tables[0]["bias"].shape == (2, 5, 2, 5)
