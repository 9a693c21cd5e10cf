"""Devices and precision: where a run computes (``cfg.device``) and whether it autocasts to bf16."""

from __future__ import annotations

import contextlib

import torch


def pick_device(spec: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu."""
    if spec != "auto":
        return torch.device(spec)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, bf16: bool, cpu_bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``bf16``, on a CPU when ``cpu_bf16``, else a no-op."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16 and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
