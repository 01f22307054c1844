"""Canonical text of notation trees: ``b (s [r])... c``, ``a, b -> (a + b)``."""

from __future__ import annotations

from collections.abc import Sequence

from einx_typed.notation.tree import (
    ANONYMOUS_ELLIPSIS,
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    OpString,
    Unnamed,
)

__all__ = ["render", "render_items"]


def render_items(items: Sequence[Node]) -> str:
    """Space-separated canonical text of a list of items."""
    return " ".join(render(item) for item in items)


def render(tree: Node | Expr | OpString) -> str:
    """Canonical text of a node, an expression or a whole op string."""
    if isinstance(tree, Named):
        return tree.name
    if isinstance(tree, Unnamed):
        return str(tree.value)
    if isinstance(tree, Composition):
        return f"({render_items(tree.items)})"
    if isinstance(tree, Marker):
        return f"[{render_items(tree.items)}]"
    if isinstance(tree, Concat):
        return " + ".join(render_items(branch) for branch in tree.branches)
    if isinstance(tree, EllipsisNode):
        inner = tree.inner
        if isinstance(inner, Named) and inner.name == ANONYMOUS_ELLIPSIS:
            return "..."
        return f"{render(inner)}..."
    if isinstance(tree, Expr):
        return render_items(tree.items)
    inputs = ", ".join(render(expr) for expr in tree.inputs)
    if tree.outputs is None:
        return inputs
    return f"{inputs} -> {', '.join(render(expr) for expr in tree.outputs)}"
