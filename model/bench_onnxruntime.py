"""Native onnxruntime beside the browser's WASM: a bundle's graphs on the CPU
execution provider, on the test-vector inputs the browser's benchmark feeds
them, with the engine's session options (every graph optimization; see
workers/ort-backend.ts) and the same thread count; each graph run once to warm
up, then timed run by run, and profiled on a second session (the time of every
node). `npm run bench` runs this right after the browser and reports
WASM/native per graph and per generated frame (scripts/bench.mjs).

    python -m model.bench_onnxruntime --bundle public/models/tabletop --variants fp32,q8 --threads 1,2 --runs 7

Writes JSON on stdout.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.manifest import GRAPH_NAMES, graph_file, load_manifest
from model.contract import graph_feeds, read_test_vectors


def session(path: Path, threads: int, profile_prefix: str | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def timed_runs(s: ort.InferenceSession, feeds: dict[str, np.ndarray], runs: int) -> list[float]:
    s.run(None, feeds)  # warm-up, as the browser does
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s.run(None, feeds)
        ms.append((time.perf_counter() - t0) * 1000)
    return ms


def profile_events(path: Path, threads: int, feeds: dict[str, np.ndarray], runs: int, tmp: Path) -> list[dict]:
    """The profile of the warm-up and timed runs, in the form the browser's benchmark returns (src/bench/graph.worker.ts)."""
    s = session(path, threads, str(tmp / path.stem))
    timed_runs(s, feeds, runs)
    events = json.loads(Path(s.end_profiling()).read_text())
    return [{"cat": e["cat"], "name": e["name"], "ts": e["ts"], "dur": e["dur"], "op": e.get("args", {}).get("op_name")}
            for e in events if e.get("ph") == "X"]


def bench(bundle: Path, variants: list[str], threads: list[int], runs: int, profile: bool) -> dict:
    m = load_manifest(bundle / "manifest.json")
    index, tensors = read_test_vectors(bundle / "testvectors")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            for t in threads:
                per_graph, profiles = {}, {}
                for g in GRAPH_NAMES:
                    path = bundle / graph_file(m, g, variant).file
                    feeds = graph_feeds(index, tensors, g)  # float32, as the browser feeds them
                    per_graph[g] = timed_runs(session(path, t), feeds, runs)
                    if profile:
                        profiles[g] = profile_events(path, t, feeds, runs, Path(tmp))
                results.append({"variant": variant, "threads": t, "perGraphRunsMs": per_graph,
                                **({"profile": profiles} if profile else {})})
    return {"onnxruntime": ort.__version__, "provider": "CPUExecutionProvider", "python": platform.python_version(),
            "results": results}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--variants", default="fp32")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-profile", action="store_true")
    a = ap.parse_args(argv)
    out = bench(a.bundle, a.variants.split(","), [int(t) for t in a.threads.split(",")], a.runs, not a.no_profile)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
