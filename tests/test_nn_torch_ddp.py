"""einx_typed.nn.torch under DistributedDataParallel: two processes, gloo, loopback."""

from __future__ import annotations

import datetime
import os
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import einx_typed.nn.torch as einn

WORLD_SIZE = 2
STEPS = 3
# Generous bounds: a healthy run takes a few seconds. They turn a hang into a failure.
RENDEZVOUS_TIMEOUT = datetime.timedelta(seconds=60)
JOIN_TIMEOUT_S = 180.0


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(
        einn.Linear("b [c1->c2]", c2=16),
        einn.Norm("[b] c", decay_rate=0.9),
        torch.nn.GELU(),
        einn.Linear("b [c1->c2]", c2=4),
    )


def _train(rank: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    model = _model()
    model(torch.randn(8, 10))  # materialise before wrapping
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(100 + rank)  # different data per rank
    for _ in range(STEPS):
        x = torch.randn(8, 10, generator=generator)
        loss = ddp(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _worker(rank: int, out_dir: str) -> None:
    # The loopback interface for gloo's pair connections, a file store for the rendezvous:
    # no TCP port has to be picked in advance, so nothing can race for it.
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{os.path.join(out_dir, 'rendezvous')}",
        rank=rank,
        world_size=WORLD_SIZE,
        timeout=RENDEZVOUS_TIMEOUT,
    )
    try:
        # DDP's reducer is destroyed here, while the process group still exists: tearing it
        # down after `destroy_process_group` can block the process forever.
        parameters = _train(rank)
        torch.save(parameters, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _run_workers(out_dir: str) -> None:
    context = mp.start_processes(
        _worker, args=(out_dir,), nprocs=WORLD_SIZE, join=False, start_method="spawn"
    )
    assert context is not None
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"DDP workers did not finish within {JOIN_TIMEOUT_S:.0f} s")


def test_ddp_two_processes_keep_parameters_identical() -> None:
    with tempfile.TemporaryDirectory() as out_dir:
        _run_workers(out_dir)
        states = [torch.load(os.path.join(out_dir, f"rank{r}.pt")) for r in range(WORLD_SIZE)]
    assert set(states[0]) == {"0.weight", "0.bias", "1.scale", "1.bias", "3.weight", "3.bias"}
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    # Training moved the parameters away from their initial values (bias starts at zero).
    assert not torch.all(states[0]["0.bias"] == 0)
