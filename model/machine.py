"""Where a result comes from, for model cards and score files: the machine (its CPU or GPUs, its
measured matrix-product peak) and the code's commit. Torch is imported where a function needs it: the
evaluation reads the CPU's name without it."""
from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's marketing name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def hardware_summary(world: int, device: torch.device) -> str:
    """What ran a training run: GPUs by name, or processes x CPU threads and the CPU."""
    import torch

    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    return f"{world} process(es) x {torch.get_num_threads()} CPU threads ({cpu_model()}, {os.cpu_count()} cores)"


def measure_peak(device: torch.device, n: int = 1024, reps: int = 8, budget_s: float = 2.0) -> dict:
    """Matrix-product throughput here, fp32 and bf16, in GFLOP/s: the ceiling a step is compared with.

    Each precision is first timed on a small product; where the full measurement would take longer than
    `budget_s` (bf16 on a CPU without bf16 arithmetic runs at about 1 GFLOP/s: a minute at n = 1024), the
    small product's rate is the figure, and `{name}_n` says at which size it was measured."""
    import torch

    out = {"threads": torch.get_num_threads(), "device": str(device)}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        small = matmul_rate(device, dtype, 256, 4)
        full_s = 3 * reps * 2 * n**3 / (small * 1e9)
        out[f"{name}_gflops"], out[f"{name}_n"] = ((matmul_rate(device, dtype, n, reps), n) if full_s <= budget_s
                                                   else (small, 256))
    return out


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, times: int) -> float:
    """GFLOP/s of `times` products of two size x size matrices, the best of three tries after a first call
    (allocation and dispatch)."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(times):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 * times / (time.perf_counter() - t0) / 1e9)
    return best


def bf16_matmul_helps(n: int = 256) -> bool:
    """Whether a bf16 matrix product beats fp32 here at all (a quick check: well under a second where bf16 is
    emulated)."""
    import torch

    cpu = torch.device("cpu")
    return matmul_rate(cpu, torch.bfloat16, n, 4) > matmul_rate(cpu, torch.float32, n, 4)


def git_commit() -> str | None:
    """The checkout's commit, where there is one."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
