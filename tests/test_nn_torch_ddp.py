"""einx_typed.nn.torch under DistributedDataParallel: two processes, gloo, loopback."""

from __future__ import annotations

import os
import socket
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import einx_typed.nn.torch as einn

WORLD_SIZE = 2
STEPS = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(
        einn.Linear("b [c1->c2]", c2=16),
        einn.Norm("[b] c", decay_rate=0.9),
        torch.nn.GELU(),
        einn.Linear("b [c1->c2]", c2=4),
    )


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
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
        parameters = {name: p.detach() for name, p in model.named_parameters()}
        torch.save(parameters, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_keep_parameters_identical() -> None:
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(_worker, args=(_free_port(), out_dir), nprocs=WORLD_SIZE, join=True)
        states = [torch.load(os.path.join(out_dir, f"rank{r}.pt")) for r in range(WORLD_SIZE)]
    assert set(states[0]) == {"0.weight", "0.bias", "1.scale", "1.bias", "3.weight", "3.bias"}
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    # Training moved the parameters away from their initial values (bias starts at zero).
    assert not torch.all(states[0]["0.bias"] == 0)
