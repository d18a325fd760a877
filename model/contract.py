"""The parts of the bundle contract that code without pydantic needs: its
names, where the model config's sizes stand in a manifest, the shapes of the
graphs' inputs and outputs, and the reader of its test vectors. The graph
wrappers and the reference sampler import them from here, so the native side of
the GPU benchmark (model/bench_pytorch.py) runs where only torch and numpy are
installed. model/manifest.py, the contract itself, re-exports the names.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from typing_extensions import TypedDict

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


# ---------------------------------------------------------------------------
# The test-vector index (`testvectors/index.json`, written by model/testvectors.py). TypedDicts, so
# code without pydantic reads it typed; model/manifest.py validates it with pydantic (extra keys
# refused, as `__pydantic_config__` says). The runtime's twin: src/contract/test-vectors.ts;
# test/unit/manifest-agreement.test.ts proves the two JSON Schemas agree. Keys are as on disk.

_STRICT = {"extra": "forbid"}


class TensorRef(TypedDict):
    """One tensor in vectors.bin: little-endian, `bytes` long from `offset`."""
    __pydantic_config__ = _STRICT
    dtype: Literal["float32", "int64", "uint8"]
    shape: list[int]
    offset: int
    bytes: int


class GraphVectors(TypedDict):
    """A graph's recorded call: tensor keys by input and output name, in the graph's order."""
    __pydantic_config__ = _STRICT
    inputs: dict[str, str]
    outputs: dict[str, str]


class PerGraphVectors(TypedDict):
    __pydantic_config__ = _STRICT
    vae_encoder: GraphVectors
    vae_decoder: GraphVectors
    encoder: GraphVectors
    backbone: GraphVectors
    decoder: GraphVectors


class TextVectors(TypedDict):
    """The action encoder on one text: token ids, mask and states (tensor keys)."""
    __pydantic_config__ = _STRICT
    text: str
    inputIds: str
    mask: str
    states: str


class RolloutVectors(TypedDict):
    """A rollout of the reference sampler from a bundle scene (its frames: a tensor key)."""
    __pydantic_config__ = _STRICT
    seed: int
    scene: str
    actions: list[str]
    chunks: int
    frames: str


class DenoiseCallVectors(TypedDict):
    __pydantic_config__ = _STRICT
    index: int
    phase: int
    step: int
    earlierChunk: Optional[int]
    laterChunk: int
    historyChunk: int
    sigma: list[float]
    sigmaNext: list[float]
    enqueue: Optional[int]
    finish: Optional[int]


class ScheduleVectors(TypedDict):
    """The Swin-DPM schedule as model/swin_dpm.py runs it (schedule_vectors)."""
    __pydantic_config__ = _STRICT
    denoiseSteps: int
    chunks: int
    calls: list[DenoiseCallVectors]
    noiseLevels: list[list[float]]


class NoiseCase(TypedDict):
    __pydantic_config__ = _STRICT
    seed: int
    stream: int
    index: int
    count: int
    key: int
    values: list[float]


class NoiseVectors(TypedDict):
    """Seeded noise as model/swin_dpm.py draws it (noise_vectors)."""
    __pydantic_config__ = _STRICT
    cases: list[NoiseCase]


class Tolerance(TypedDict):
    """Largest absolute difference allowed: per graph output (fp32), per rollout pixel (2/255)."""
    __pydantic_config__ = _STRICT
    graph: float
    frame: float


class GraphCost(TypedDict):
    """What one call of a graph costs (model/cost.py)."""
    __pydantic_config__ = _STRICT
    flops: int
    params: int
    fp32Bytes: int


class PerGraphCost(TypedDict):
    __pydantic_config__ = _STRICT
    vae_encoder: GraphCost
    vae_decoder: GraphCost
    encoder: GraphCost
    backbone: GraphCost
    decoder: GraphCost


class FrameCost(TypedDict):
    """What one generated frame costs: K/2 decoder calls, one encoder + backbone turn, one VAE decode a chunk."""
    __pydantic_config__ = _STRICT
    flops: float
    fp32WeightBytesRead: float
    decoderCallsPerChunk: int
    framesPerChunk: int


class ModelCost(TypedDict):
    __pydantic_config__ = _STRICT
    perGraph: PerGraphCost
    perFrame: FrameCost


class VariantQuality(TypedDict):
    """A reduced-precision variant's replay of the rollout against fp32, and whether it shipped."""
    __pydantic_config__ = _STRICT
    psnr: float
    kept: bool
    threshold: float


class TestVectorIndex(TypedDict):
    __pydantic_config__ = _STRICT
    tensors: dict[str, TensorRef]
    graphs: PerGraphVectors
    texts: list[TextVectors]
    rollout: RolloutVectors
    schedule: ScheduleVectors
    noise: NoiseVectors
    tolerance: Tolerance
    cost: ModelCost
    variantQuality: dict[str, VariantQuality]


def tensor_references(index: TestVectorIndex) -> list[tuple[tuple, str]]:
    """The tensor keys the index names (graphs, texts, rollout), each with where it is named."""
    refs = [(("graphs", g, side, name), key) for g in GRAPH_NAMES for side in ("inputs", "outputs")
            for name, key in index["graphs"][g][side].items()]
    refs += [(("texts", i, k), t[k]) for i, t in enumerate(index["texts"]) for k in ("inputIds", "mask", "states")]
    return refs + [(("rollout", "frames"), index["rollout"]["frames"])]


def read_test_vector_index(vdir: Path) -> TestVectorIndex:
    """A bundle's `testvectors/index.json`, as written (the exporter validated it; so does `python -m model.manifest`)."""
    return json.loads((Path(vdir) / "index.json").read_text())


def read_test_vectors(vdir: Path) -> tuple[TestVectorIndex, dict[str, np.ndarray]]:
    """A bundle's `testvectors/`: the index, and every tensor by key (little-endian in the file; here in
    native byte order, writable)."""
    index = read_test_vector_index(vdir)
    blob = (Path(vdir) / "vectors.bin").read_bytes()
    tensors = {}
    for k, t in index["tensors"].items():
        dtype = np.dtype(t["dtype"])
        tensors[k] = (np.frombuffer(blob, dtype.newbyteorder("<"), count=int(np.prod(t["shape"])), offset=t["offset"])
                      .reshape(t["shape"]).astype(dtype))
    return index, tensors


def graph_feeds(index: TestVectorIndex, tensors: dict[str, np.ndarray], graph: str) -> dict[str, np.ndarray]:
    """One graph's recorded inputs by name, in the graph's order, as float32 (as the runtime feeds them:
    src/contract/test-vectors.ts graphFeeds)."""
    return {name: tensors[key].astype(np.float32) for name, key in index["graphs"][graph]["inputs"].items()}
