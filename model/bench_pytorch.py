"""The native side of the GPU benchmark (`npm run bench:gpu`, src/bench/node/main.ts):
the same graphs on PyTorch (CUDA when there is one, else the CPU), run the way
the Node side runs them on WebGPU, so the report can put the two side by side.

The Node side writes a plan (the bundle, the seed, the start scene's pixels,
the actions and their text encodings from its own action encoder) and runs

    python -m model.bench_pytorch --plan plan.json --out native.json [--weights W] [--device auto|cuda|cpu]

Measured, as src/bench/bench.ts measures the browser and Node runs:
  1. each graph alone on the bundle's test-vector inputs, already on the
     device (median of 5 after a warm-up);
  2. the reference sampler (model/sampler.py, the exporter's reference) from
     the start scene: first chunk, steady chunks of the idle action, then
     each action from a chunk boundary until its chunk is decoded. The
     sampler moves numpy arrays in and out of every call, as the naive
     runtime does; (1) is the graphs without that.
Before timing, the weights run the test vectors on the CPU and the largest
difference from the bundle's outputs is reported: PyTorch figures stand for
the bundle only when its weights reproduce the bundle's graphs.

Imports torch and numpy only (no pydantic, tokenizers or onnxruntime): a GPU
machine with a driver and PyTorch runs it as it is.
"""
from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import load_checkpoint, random_model
from model.contract import GRAPH_NAMES, TestVectorIndex, graph_feeds, read_test_vectors
from model.graphs import GRAPH_IO, export_module, run_torch
from model.sampler import ReferenceSampler, TorchGraphs

f32 = np.float32


def load_weights(spec: str):
    """A checkpoint path, or `random:CONFIG:SEED` for the seeded init a `--random-init` export used."""
    if spec.startswith("random:"):
        _, config, seed = spec.split(":")
        return random_model(config, int(seed))
    return load_checkpoint(Path(spec))[0]


def weights_check(model, index: TestVectorIndex, tensors: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |PyTorch - bundle| per graph on the test vectors (fp32, CPU)."""
    errors = {}
    for g in GRAPH_NAMES:
        out = run_torch(model, g, graph_feeds(index, tensors, g))
        errors[g] = max(float(np.abs(o - tensors[key]).max()) for o, key in zip(out, index["graphs"][g]["outputs"].values()))
    return errors


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def per_graph_ms(model, index: TestVectorIndex, tensors: dict[str, np.ndarray], device: torch.device,
                 repeats: int = 5) -> dict[str, float]:
    """Each graph on its test-vector inputs, inputs and outputs staying on the device."""
    out = {}
    for g in GRAPH_NAMES:
        module = export_module(model, g)
        feeds = graph_feeds(index, tensors, g)
        _, in_names, _ = GRAPH_IO[g]
        args = [torch.from_numpy(feeds[k]).to(device) for k in in_names]
        times = []
        with torch.inference_mode():
            for i in range(repeats + 1):
                sync(device)
                t0 = time.perf_counter()
                module(*args)
                sync(device)
                if i:  # the first call warms up (allocator, kernels)
                    times.append((time.perf_counter() - t0) * 1e3)
        out[g] = statistics.median(times)
    return out


class TimedGraphs(TorchGraphs):
    """TorchGraphs that note how long each graph call takes (outputs come back to the CPU, so each is complete)."""

    def __init__(self, model):
        super().__init__(model)
        self.calls: list[tuple[str, float]] = []

    def run(self, graph, **inputs):
        t0 = time.perf_counter()
        out = super().run(graph, **inputs)
        self.calls.append((graph, (time.perf_counter() - t0) * 1e3))
        return out


class PlannedTexts:
    """The action encoder, answered from the plan: the Node side's encodings of exactly these texts."""

    def __init__(self, texts: dict):
        self.texts = {}
        for t, v in texts.items():
            mask = decode_f32(v["mask"])
            self.texts[t] = (decode_f32(v["states"]).reshape(mask.size, -1), mask)  # (L, width), (L,)

    def encode(self, text: str):
        if text not in self.texts:
            raise KeyError(f"the plan has no encoding of {text!r}")
        return self.texts[text]


def decode_f32(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4").astype(f32)


def rollout(model, plan: dict) -> dict:
    """The reference sampler as src/bench/bench.ts drives a session: first chunk, steady chunks, actions."""
    graphs = TimedGraphs(model)
    cfg = graphs.cfg
    w, h = plan["scene"]["width"], plan["scene"]["height"]
    rgba = np.frombuffer(base64.b64decode(plan["scene"]["rgba"]), dtype=np.uint8).reshape(h, w, 4)
    s = ReferenceSampler(graphs, PlannedTexts(plan["texts"]), seed=plan["seed"], idle_action=plan["idleAction"])
    with torch.inference_mode():
        t0 = time.perf_counter()
        s.start(rgba[:, :, :3])
        s.run_chunks(1)
        first_ms = (time.perf_counter() - t0) * 1e3
        graphs.calls.clear()
        t0 = time.perf_counter()
        s.run_chunks(plan["chunks"])
        steady_s = time.perf_counter() - t0
        steady_calls = list(graphs.calls)
        latencies = []
        for a in plan["actions"]:
            # Acted on at a chunk boundary: its chunk is enqueued next and decoded one phase later.
            t0 = time.perf_counter()
            s.act(a)
            s.run_chunks(2)
            latencies.append((time.perf_counter() - t0) * 1e3)

    def med(*names):
        xs = [ms for g, ms in steady_calls if g in names]
        return statistics.median(xs) if xs else float("nan")
    turns = plan["chunks"]  # one backbone turn (encoder h + backbone f) per chunk
    turn_ms = sum(ms for g, ms in steady_calls if g in ("encoder", "backbone")) / turns
    return {"firstFrameMs": first_ms, "steadyFps": plan["chunks"] * cfg.chunk_frames / steady_s,
            "decoderCallMs": med("decoder"), "turnMs": turn_ms, "vaeMs": med("vae_decoder"),
            "actionToChunkMs": statistics.median(latencies)}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines() if ln.startswith("model name")), cpu)
    return f"{cpu}, {torch.get_num_threads()} threads"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", type=Path, required=True, help="written by the Node side")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weights", required=True, help="a checkpoint (.pt) or random:CONFIG:SEED")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    args = ap.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    bundle = Path(plan["bundle"])
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")

    model = load_weights(args.weights).eval()
    index, tensors = read_test_vectors(bundle / "testvectors")
    tolerance = index["tolerance"]["graph"]
    errors = weights_check(model, index, tensors)
    model = model.to(device)
    result = {
        "torch": torch.__version__,
        "device": device.type,
        "deviceName": device_name(device),
        "weights": {"source": args.weights, "maxAbsErrorPerGraph": errors, "tolerance": tolerance,
                    "matchBundle": all(e <= tolerance for e in errors.values())},
        "perGraphMs": per_graph_ms(model, index, tensors, device),
        **rollout(model, plan),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"native ({result['deviceName']}): {result['steadyFps']:.2f} fps, "
          f"{result['decoderCallMs']:.1f} ms per decoder call")


if __name__ == "__main__":
    main()
