"""Command line: ``python -m einx_typed inspect SPEC_FILE --input-shape 64,8,8``.

Prints the resolved parameter table of a spec file (JSON or TOML) without any deep-learning
framework; with ``--program`` also the layer's program in each mode: the backend
primitives it runs, one per line.  Mistakes give a one-line error on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO, final

from einx_typed.config import load
from einx_typed.errors import EinxError
from einx_typed.layers import (
    Constant,
    InitSpec,
    LecunTruncatedNormal,
    Normal,
    Ones,
    ParamSpec,
    Resolved,
    TruncatedNormal,
    Zeros,
)

__all__ = ["main"]

_EXIT_USAGE = 2


def _shape(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape; write positive ints separated by commas, e.g. 64,8,8"
        )
    return tuple(int(p) for p in parts)


def _describe_init(init: InitSpec, shape: tuple[int, ...]) -> str:
    match init:
        case Zeros():
            return "zeros"
        case Ones():
            return "ones"
        case Constant(value=value):
            return f"constant({value:g})"
        case Normal(std=std, mean=mean):
            return f"normal({mean:g}, {std:g})"
        case TruncatedNormal(std=std, mean=mean):
            return f"truncated_normal({mean:g}, {std:g})"
        case LecunTruncatedNormal():
            return f"lecun_normal(fan_in={init.fan_in(shape)})"


def _axes_text(axes: tuple[str, ...]) -> str:
    return " ".join(a.replace("_anonymous_ellipsis_axis.", "...") for a in axes)


def _table(entries: Sequence[tuple[str, ParamSpec]]) -> list[str]:
    header = ("name", "shape", "axes", "init", "count")
    rows = [
        (
            name,
            str(spec.shape),
            _axes_text(spec.axes),
            _describe_init(spec.init, spec.shape),
            f"{spec.size:,}",
        )
        for name, spec in entries
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths[:-1])]
        lines.append("  ".join([*cells, row[-1].rjust(widths[-1])]).rstrip())
    return lines


def _programs(resolved: Resolved, out: TextIO) -> None:
    modes = [("training", True, False), ("evaluation", False, False)]
    if resolved.state:
        modes.append(("first training call (EMA init phase)", True, True))
    for title, training, initializing in modes:
        program = resolved.program(training=training, initializing=initializing)
        print(file=out)
        print(f"Program, {title}:", file=out)
        for line in program.format().splitlines():
            print(f"  {line}", file=out)


def _report(path: str, resolved: Resolved, out: TextIO) -> None:
    spec_type = type(resolved.spec).__name__
    print(f"{spec_type} from {path}", file=out)
    print(f"Input shape: {resolved.input_shape} ({resolved.dtype})", file=out)
    print(file=out)
    if resolved.params:
        print("Parameters:", file=out)
        for line in _table(list(resolved.params.items())):
            print(f"  {line}", file=out)
    else:
        print("Parameters: none", file=out)
    if resolved.state:
        print(file=out)
        print("State (not trainable):", file=out)
        for line in _table(list(resolved.state.items())):
            print(f"  {line}", file=out)
    state_count = sum(s.size for s in resolved.state.values())
    print(file=out)
    print(f"Output shape: {resolved.output_shape}", file=out)
    print(f"Total parameters: {resolved.param_count:,}", file=out)
    if resolved.state:
        print(f"Total state: {state_count:,}", file=out)


@final
class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(_EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m einx_typed", description="Inspect einx_typed layer spec files."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    inspect = commands.add_parser(
        "inspect", help="print the parameter table of a spec file for an input shape"
    )
    inspect.add_argument("spec_file", help="a .toml or .json spec file")
    inspect.add_argument(
        "--input-shape", required=True, type=_shape, help="comma-separated, e.g. 64,8,8"
    )
    inspect.add_argument(
        "--dtype",
        default="float32",
        help="parameter dtype: float32 (default), float16, bfloat16 or float64",
    )
    inspect.add_argument(
        "--program",
        action="store_true",
        help="also print the backend primitives the layer runs, in training and evaluation",
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    try:
        spec = load(args.spec_file)
        resolved = spec.resolve(args.input_shape, dtype=args.dtype)
    except EinxError as err:
        first_line = str(err).splitlines()[0]
        print(f"python -m einx_typed: error: {first_line}", file=sys.stderr)
        return _EXIT_USAGE
    _report(args.spec_file, resolved, out)
    if args.program:
        _programs(resolved, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
