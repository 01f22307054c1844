"""einx notation at work on numpy arrays: a few ops, the solver, and an error message.

    python examples/demo.py

Imports nothing but numpy and einx_typed, and runs in well under a second.
"""

from __future__ import annotations

import numpy as np

import einx_typed as einx


def show(title: str, value: object) -> None:
    print(f"\n== {title}")
    print(value)


def main() -> None:
    np.set_printoptions(precision=3, suppress=True)
    rng = np.random.default_rng(0)

    # A batch of two 4x4 RGB images, cut into 2x2 patches: one row per patch.
    images = rng.integers(0, 10, size=(2, 4, 4, 3))
    patches = einx.rearrange("b (h p1) (w p2) c -> b (h w) (p1 p2 c)", images, p1=2, p2=2)
    show("rearrange 'b (h p1) (w p2) c -> b (h w) (p1 p2 c)'", f"{images.shape} -> {patches.shape}")
    assert np.array_equal(patches[0, 1], images[0, 0:2, 2:4].reshape(-1))

    # A linear layer over the last axis: the bracket shorthand builds the weight's expression.
    x = rng.standard_normal((2, 5, 8))
    weight = rng.standard_normal((8, 3))
    y = einx.dot("b... [c1->c2]", x, weight)
    show("dot 'b... [c1->c2]' with a (8, 3) weight", f"{x.shape} -> {y.shape}")
    assert np.allclose(y, x @ weight)

    # Multi-head attention scores in one call, heads split out of the channel axis.
    q, k = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 7, 8))
    scores = einx.dot("b q (h c), b k (h c) -> b h q k", q, k, h=2)
    attention = einx.softmax("b h q [k]", scores)
    show("dot + softmax over [k]", f"scores {scores.shape}; rows sum to {attention.sum(-1)[0, 0]}")

    # Reductions: the marked axes go away, or become 1 with keepdims.
    table = np.arange(12.0).reshape(3, 4)
    show("mean 'a [b]'", einx.mean("a [b]", table))
    show("sum '[a] b' keepdims", einx.sum("[a] b", table, keepdims=True))

    # Broadcasting by name: a bias over the channel axis, an outer sum with a new axis.
    show("add 'a b, b'", einx.add("a b, b", table, np.array([100.0, 200.0, 300.0, 400.0])))
    show("add 'a, b -> b a'", einx.add("a, b -> b a", np.arange(3), np.arange(2) * 10))

    # Indexing: an embedding lookup.
    embedding = np.arange(12.0).reshape(6, 2)
    tokens = np.array([[5, 0, 2]])
    show("get_at '[v] c, b t -> b t c'", einx.get_at("[v] c, b t -> b t c", embedding, tokens))

    # The solver on its own: axis lengths, an ellipsis solved per repetition.
    feature_map = np.zeros((4, 16, 8, 3))
    show(
        "solve 'b (s p)... c' with p=2",
        einx.solve("b (s p)... c", feature_map, p=2),
    )
    show("matches 'b h w' on a rank-4 array", einx.matches("b h w", feature_map))

    # Mistakes raise einx_typed.EinxError (a ValueError) with the expression and a caret.
    try:
        einx.rearrange("b h w c -> b (h w) c", np.zeros((2, 3, 4)))
    except einx.EinxError as error:
        show(f"caught {type(error).__name__}", error)


if __name__ == "__main__":
    main()
