"""The parts of the bundle contract that code without pydantic needs: its
names, where the model config's sizes stand in a manifest, the shapes of the
graphs' inputs and outputs, and the reader of its test vectors. The graph
wrappers and the reference sampler import them from here, so the native side of
the GPU benchmark (model/native_bench.py) runs where only torch and numpy are
installed. model/manifest.py, the contract itself, re-exports the names.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

GRAPH_NAMES = ("vae_encoder", "vae_decoder", "encoder", "backbone", "decoder")
# Also the order a missing variant falls back in (`pick_variant`; src/loader/bundle.ts `graphFile`).
VARIANTS = ("fp32", "fp16", "q8", "q4")
# The action a chunk is conditioned on when none is queued: a wording of the
# world's "wait" (model/world/language.py), written into `actionEncoder.idleAction`.
IDLE_ACTION = "wait"


# GLPConfig <-> manifest: where each of the config's numbers stands in the
# manifest. One table, read one way by the exporter (model/manifest.py
# config_fields) and the other way by whatever runs a bundle without its
# checkpoint (config_from_manifest, model/sampler.py OnnxGraphs).
CONFIG_FIELDS = (
    ("name", "name"),
    ("video.width", "image_size"),
    ("video.height", "image_size"),
    ("video.fps", "fps"),
    ("video.chunkFrames", "chunk_frames"),
    ("latent.channels", "latent_channels"),
    ("latent.height", "latent_size"),
    ("latent.width", "latent_size"),
    ("state.tokens", "state_tokens"),
    ("state.width", "state_width"),
    ("state.queries", "queries"),
    ("backbone.layers", "backbone_layers"),
    ("backbone.heads", "backbone_heads"),
    ("backbone.maxTurns", "max_turns"),
    ("backbone.turnTokens", "turn_tokens"),
    ("backbone.cacheTokens", "cache_tokens"),
    ("diffusion.denoiseSteps", "denoise_steps"),
    ("diffusion.window", "window_chunks"),
    ("diffusion.conditioningNoise", "conditioning_noise"),
    ("diffusion.stateLag", "state_lag"),
    ("actionEncoder.maxTokens", "max_action_tokens"),
    ("actionEncoder.width", "text_width"),
)


def config_sizes(cfg) -> dict:
    """The manifest's fields that come from a model config (a GLPConfig), nested, with JSON keys."""
    out: dict = {}
    for path, attr in CONFIG_FIELDS:
        *parents, key = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = getattr(cfg, attr)
    return out


Shape = list[int]
GraphIO = dict[str, dict[str, dict[str, Shape]]]


def expected_graph_io(m: Mapping) -> GraphIO:
    """The inputs and outputs each graph must have, by name in the graph's order, from a manifest's sizes
    (its JSON, or `config_sizes(cfg)`): what a bundle is checked against (model/manifest.py), the shapes
    the example inputs and the reference sampler are made with. The runtime's twin is `expectedGraphIO`
    in src/contract/manifest.ts; test/unit/manifest-agreement.test.ts holds the two to the same shapes."""
    v, lat, st, ae, bb = m["video"], m["latent"], m["state"], m["actionEncoder"], m["backbone"]
    F, W, H = v["chunkFrames"], v["width"], v["height"]
    C, h, w = lat["channels"], lat["height"], lat["width"]
    Ns, D, Q = st["tokens"], st["width"], st["queries"]
    L, T = ae["maxTokens"], ae["width"]
    layers, heads, P = bb["layers"], bb["heads"], bb["cacheTokens"]
    hs = D // heads
    return {
        "vae_encoder": {"inputs": {"frames": [1, 3, H, W]}, "outputs": {"latents": [1, C, h, w]}},
        "vae_decoder": {"inputs": {"latents": [F, C, h, w]}, "outputs": {"frames": [F, 3, H, W]}},
        "encoder": {"inputs": {"frames": [F, 3, H, W]}, "outputs": {"state_tokens": [Ns, D]}},
        "backbone": {
            "inputs": {"prev_state": [Q, D], "is_first": [1], "observed": [Ns, D], "action": [L, T],
                       "action_mask": [L], "past_kv": [layers, 2, heads, P, hs], "past_mask": [P]},
            "outputs": {"next_state": [Q, D], "present_kv": [layers, 2, heads, P, hs], "present_mask": [P]},
        },
        "decoder": {
            "inputs": {"history": [F, C, h, w], "history_noise": [C, h, w], "history_sigma": [1],
                       "earlier": [F, C, h, w], "later": [F, C, h, w], "sigma": [2], "sigma_next": [2],
                       "earlier_present": [1], "text": [2, L, T], "text_mask": [2, L], "state": [2, Q, D]},
            "outputs": {"earlier_next": [F, C, h, w], "later_next": [F, C, h, w]},
        },
    }


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
