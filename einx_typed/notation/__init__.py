"""einx notation: parse, hoist, expand and solve op strings; pure Python."""

from einx_typed.notation._expand import opaque_name
from einx_typed.notation._parser import parse_expr, parse_op
from einx_typed.notation._render import render, render_items
from einx_typed.notation._solve import ExtraEquations, Solution, check_axis_names, solve
from einx_typed.notation._values import AxisValue, normalize_axis_values
from einx_typed.notation._walk import (
    axis_depths,
    axis_names,
    dims,
    flat_nodes,
    iter_nodes,
    node_length,
)
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

__all__ = [
    "ANONYMOUS_ELLIPSIS",
    "AxisValue",
    "Composition",
    "Concat",
    "EllipsisNode",
    "Expr",
    "ExtraEquations",
    "Marker",
    "Named",
    "Node",
    "OpString",
    "Solution",
    "Unnamed",
    "axis_depths",
    "axis_names",
    "check_axis_names",
    "dims",
    "flat_nodes",
    "iter_nodes",
    "node_length",
    "normalize_axis_values",
    "opaque_name",
    "parse_expr",
    "parse_op",
    "render",
    "render_items",
    "solve",
]
