"""The bundle contract's names, and the reader of its test vectors, that code
without pydantic needs: the graph wrappers and the reference sampler import
them from here, so the native side of the GPU benchmark (model/native_bench.py)
runs where only torch and numpy are installed. model/manifest.py, the contract
itself, re-exports the names.
"""
import json
from pathlib import Path

import numpy as np

GRAPH_NAMES = ("vae_encoder", "vae_decoder", "encoder", "backbone", "decoder")
# Also the order a missing variant falls back in (`pick_variant`; src/loader/bundle.ts `graphFile`).
VARIANTS = ("fp32", "fp16", "q8", "q4")
# The action a chunk is conditioned on when none is queued: a wording of the
# world's "wait" (model/world/language.py), written into `actionEncoder.idleAction`.
IDLE_ACTION = "wait"


def read_test_vectors(vdir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A bundle's `testvectors/` (model/testvectors.py writes it): the index, and every tensor by key
    (little-endian in the file; here in native byte order, writable)."""
    index = json.loads((vdir / "index.json").read_text())
    blob = (vdir / "vectors.bin").read_bytes()
    tensors = {}
    for k, t in index["tensors"].items():
        dtype = np.dtype(t["dtype"])
        tensors[k] = (np.frombuffer(blob, dtype.newbyteorder("<"), count=int(np.prod(t["shape"])), offset=t["offset"])
                      .reshape(t["shape"]).astype(dtype))
    return index, tensors
