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


def cpu_computes_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX, as oneDNN reports it); elsewhere bf16 is
    emulated and slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocasts_on_cpu(device: torch.device, cpu_bf16: bool) -> bool:
    """Whether ``cpu_bf16`` means bf16 autocast on ``device``: a CPU that computes bf16 natively."""
    return bool(cpu_bf16) and device.type == "cpu" and cpu_computes_bf16()


def autocast(device: torch.device, bf16: bool, cpu_bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``bf16``; on a CPU when ``cpu_bf16`` and the CPU computes bf16 natively
    (:func:`autocasts_on_cpu`); else a no-op (fp32)."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if autocasts_on_cpu(device, cpu_bf16):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def eager_attention_for_cpu_bf16(module: torch.nn.Module) -> None:
    """Switch the transformers models inside ``module`` to the eager (matmul + softmax) attention.

    For a run that autocasts to bf16 on a CPU: there, SDPA's CPU flash kernel is the slowest part of a tiny
    backbone's step, while the eager attention's batched matmuls run in bf16 on oneDNN. Measured on this project's
    CPU (AVX-512 BF16), one fwd+bwd of a batch of 64, tiny backbone: DialogReply-v0 decoder 284/244 -> 170 ms,
    DialogSelect-v0 dual encoder 444/410 -> 238/235 ms, TextCls-v0 encoder 40/38 -> 26/25 ms; in fp32 the two are
    equally fast (480 vs 489 ms, 687 vs 670 ms, 64 vs 65 ms). The same attention to float precision."""
    from transformers import PreTrainedModel

    for m in module.modules():
        if isinstance(m, PreTrainedModel) and hasattr(m, "set_attn_implementation"):
            m.set_attn_implementation("eager")
