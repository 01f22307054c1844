"""First call of a layer in a fresh process, and resolve time of the ``specs/`` models.

Each measurement runs in a new interpreter that has imported torch and einx_typed and
warmed torch's kernels on other tensors of the same shapes (so kernel start-up, which a
native layer pays too, is not counted); it then times constructing the layer plus its
first forward.  The native column does the same with PyTorch's own (lazy) layer.

    python benchmarks/bench_first_call.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS = {
    "Linear": ('einn.Linear("b... [c1->c2]", c2=64)', "torch.nn.LazyLinear(64)"),
    "LayerNorm": ('einn.Norm("b... [c]")', "torch.nn.LayerNorm(32)"),
    "GroupNorm": (
        'einn.Norm("b [s...] (g [c])", g=8)',
        "Channels(torch.nn.GroupNorm(8, 32))",
    ),
    "BatchNorm": ('einn.Norm("[b...] c", decay_rate=0.9)', "Channels(torch.nn.LazyBatchNorm2d())"),
    "RMSNorm": ('einn.Norm("b... [c]", mean=False, bias=False)', "torch.nn.RMSNorm(32)"),
    "Dropout": ('einn.Dropout("[...]", drop_rate=0.2)', "torch.nn.Dropout(0.2)"),
}

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import torch
    import einx_typed.nn.torch as einn

    class Channels(torch.nn.Module):  # native channels-first layers on channels-last input
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
        def forward(self, x):
            return self.inner(x.movedim(-1, 1)).movedim(1, -1)

    torch.manual_seed(0)
    x = torch.rand(16, 8, 8, 32)
    # Warm torch's kernels (and einx_typed's imports) on other layers and tensors.
    warm = torch.rand(16, 8, 8, 32)
    for module in (torch.nn.Linear(32, 64), torch.nn.LayerNorm(32), torch.nn.RMSNorm(32),
                   Channels(torch.nn.GroupNorm(8, 32)), Channels(torch.nn.BatchNorm2d(32)),
                   torch.nn.Dropout(0.2), einn.Linear("q [a->b]", b=3)):
        module(warm if not isinstance(module, einn.Linear) else torch.rand(2, 5))
    make = eval(sys.argv[1])
    start = time.perf_counter()
    layer = make()
    layer(x)
    print(json.dumps(1000 * (time.perf_counter() - start)))
    """
)

RESOLVE_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import einx_typed.config
    spec = einx_typed.config.load(sys.argv[1])
    start = time.perf_counter()
    resolved = spec.resolve((64, 8, 8))
    middle = time.perf_counter()
    for training in (True, False):
        resolved.program(training=training)
    end = time.perf_counter()
    print(json.dumps([1000 * (middle - start), 1000 * (end - middle)]))
    """
)


def _run(code: str, argument: str) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code, argument],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per cell")
    args = parser.parse_args()
    print("| layer | einx_typed ms | native ms |")
    print("|---|---|---|")
    for name, (ours, native) in LAYERS.items():
        cells = []
        for code in (f"lambda: {ours}", f"lambda: {native}"):
            times = [float(str(_run(CHILD, code))) for _ in range(args.runs)]
            cells.append(statistics.median(times))
        print(f"| {name} | {cells[0]:.2f} | {cells[1]:.2f} |")
    print()
    print("| spec | resolve ms | trace train+eval programs ms |")
    print("|---|---|---|")
    for path in sorted((ROOT / "specs").glob("digits_*.toml")):
        results = [_run(RESOLVE_CHILD, str(path)) for _ in range(args.runs)]
        resolve = statistics.median(r[0] for r in results)  # type: ignore[index]
        trace = statistics.median(r[1] for r in results)  # type: ignore[index]
        print(f"| {path.name} | {resolve:.2f} | {trace:.2f} |")


if __name__ == "__main__":
    main()
