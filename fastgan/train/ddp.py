"""Data-parallel training under ``torchrun`` without wrapping the networks.

Semantics (the same as StyleGAN2-ADA's ``--batch``): the recipe's ``batch`` is the
**total** batch over all processes; each of the W processes draws ``batch / W``
rows of the same global batch (see ``fastgan.data.BatchLoader``) and the same
global noise (``Context.randn``), computes its loss as the mean over its rows,
and the engine averages the gradients over processes before every optimiser
step.  The averaged gradient equals the gradient of the mean loss over the total
batch, so W processes train the same model a single process trains with the
same total batch (up to float summation order), as long as the networks have no
per-batch statistics (BatchNorm normalises per process).  Only rank 0 logs,
writes sample grids and checkpoints.

Networks are not wrapped in ``DistributedDataParallel``: GAN phases switch
``requires_grad`` and run G and D in different combinations, which DDP's hooks
handle poorly; one flat all-reduce per phase is simple and as fast at this scale.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init_from_env", "is_distributed", "average_gradients", "broadcast_module", "any_flag",
           "rank_world"]


def rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_distributed() -> bool:
    return rank_world()[1] > 1


def init_from_env(device: str = "auto") -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ...), if any.

    Returns ``(rank, world, device)``: gloo on the CPU, NCCL on CUDA (one GPU per
    local rank).  Without torchrun's variables: ``(0, 1, device)``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if world <= 1:
        if device == "auto":
            return 0, 1, torch.device("cuda" if want_cuda else "cpu")
        return 0, 1, torch.device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda or device.startswith("cuda:"):
        torch.cuda.set_device(local)
        dev, backend = torch.device("cuda", local), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), dev


def average_gradients(params) -> None:
    """All-reduce the gradients of ``params`` to their mean over processes (one flat buffer).

    Parameters without a gradient keep none (the optimiser then skips them, as it
    does in a single process); which parameters get gradients is decided by the
    graph, so it is the same on every rank.
    """
    rank, world = rank_world()
    if world == 1:
        return
    params = [p for p in params if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Make parameters and buffers equal to rank ``src``'s."""
    if not is_distributed():
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src)


def any_flag(flag: bool, device) -> bool:
    """True on every rank if ``flag`` is true on any rank (used for clean shutdown)."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)
