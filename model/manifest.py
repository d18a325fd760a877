"""The bundle contract, `manifest.json`, as the exporter writes it.

The runtime's twin is `src/contract/manifest.ts` (zod). Both define the same
JSON Schema; `test/unit/manifest-agreement.test.ts` proves it by comparing the
two, and both validate the shipped bundles. JSON keys are camelCase, as on disk.

`python -m model.manifest --json-schema` prints this side's schema;
`python -m model.manifest path/to/manifest.json` validates a file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Literal, Optional, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from model.config import GLPConfig
from model.contract import GRAPH_NAMES, IDLE_ACTION, VARIANTS  # noqa: F401  (the contract's names, re-exported)

FORMAT = "world-canvas-bundle"
FORMAT_VERSION = 1

# A path inside the bundle folder: relative segments that never start with a
# dot and hold no colon, so a manifest can never point at a parent folder or
# another origin.
RELATIVE_PATH = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"
SHA256 = r"^[0-9a-f]{64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class FileRef(Strict):
    file: str = Field(pattern=RELATIVE_PATH)
    bytes: int = Field(ge=1)
    sha256: str = Field(pattern=SHA256)


class TensorSpec(Strict):
    name: str = Field(min_length=1)
    shape: list[int]
    dtype: Literal["float32", "float16", "int64", "int32", "uint8", "bool"]

    @field_validator("shape")
    @classmethod
    def _positive_dims(cls, shape):
        if any(d < 1 for d in shape):
            raise ValueError("every dimension must be >= 1 (graphs have static shapes)")
        return shape


class Variants(Strict):
    fp32: Optional[FileRef] = None
    fp16: Optional[FileRef] = None
    q8: Optional[FileRef] = None
    q4: Optional[FileRef] = None

    @model_validator(mode="after")
    def _at_least_one(self):
        if not any(getattr(self, v) for v in VARIANTS):
            raise ValueError("a graph needs at least one variant (fp32, fp16, q8 or q4)")
        return self


class Graph(Strict):
    inputs: list[TensorSpec] = Field(min_length=1)
    outputs: list[TensorSpec] = Field(min_length=1)
    variants: Variants


class Graphs(Strict):
    # Graph names are ONNX file stems and stay snake_case on disk.
    model_config = ConfigDict(extra="forbid", alias_generator=None, populate_by_name=True, frozen=True)
    vae_encoder: Graph
    vae_decoder: Graph
    encoder: Graph
    backbone: Graph
    decoder: Graph


class Video(Strict):
    width: int = Field(ge=8)
    height: int = Field(ge=8)
    fps: float = Field(gt=0)
    chunk_frames: int = Field(ge=1)


class Latent(Strict):
    channels: int = Field(ge=1)
    height: int = Field(ge=1)
    width: int = Field(ge=1)


class State(Strict):
    tokens: int = Field(ge=1)
    width: int = Field(ge=1)
    queries: int = Field(ge=1)


class Backbone(Strict):
    layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    max_turns: int = Field(ge=1)
    turn_tokens: int = Field(ge=1)
    cache_tokens: int = Field(ge=1)


class FlowMatching(Strict):
    interpolation: Literal["x_sigma = (1 - sigma) * data + sigma * noise"]
    prediction: Literal["velocity = noise - data"]
    step: Literal["euler: x_next = x - (sigma - sigma_next) * velocity"]


class Diffusion(Strict):
    denoise_steps: int = Field(ge=2)
    window: Literal[2]
    conditioning_noise: float = Field(ge=0, lt=1)
    state_lag: Literal[2]
    flow_matching: FlowMatching

    @field_validator("denoise_steps")
    @classmethod
    def _even_steps(cls, k):
        if k % 2:
            raise ValueError("denoiseSteps must be even: each window chunk takes half of them")
        return k


class ActionEncoder(Strict):
    path: str = Field(pattern=RELATIVE_PATH)
    max_tokens: int = Field(ge=2)
    width: int = Field(ge=1)
    dtype: Literal["fp32", "fp16", "q8", "q4"]
    idle_action: str = Field(min_length=1)
    files: list[FileRef] = Field(min_length=1)


class Scene(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    title: str = Field(min_length=1)
    file: str = Field(pattern=RELATIVE_PATH)
    bytes: int = Field(ge=1)
    sha256: str = Field(pattern=SHA256)


class Eval(Strict):
    episodes: str = Field(min_length=1)
    scores: dict[str, float]
    report: Optional[str] = None


class TestVectors(Strict):
    file: str = Field(pattern=RELATIVE_PATH)


class GuideAction(Strict):
    kind: str = Field(min_length=1)
    description: str = Field(min_length=1)
    examples: list[str] = Field(min_length=1)


class GuideWords(Strict):
    label: str = Field(min_length=1)
    words: list[str] = Field(min_length=1)


class Guide(Strict):
    """What a person can ask of the world: the kinds of actions it was trained on, and its words."""
    actions: list[GuideAction] = Field(min_length=1)
    vocabulary: list[GuideWords]


class World(Strict):
    """How the world behaves, for the runtime and the people acting in it (model/world/guide.py)."""
    # Nothing changes when nobody acts: the runtime stops generating once the chunk on screen has settled.
    still_when_idle: StrictBool
    # Idle chunks in a row, the one on screen the last, after which its frame is the world at rest.
    settle_chunks: int = Field(ge=1)
    guide: Optional[Guide] = None


class Manifest(Strict):
    format: Literal["world-canvas-bundle"]
    format_version: Literal[1]
    name: str = Field(min_length=1)
    description: str
    video: Video
    latent: Latent
    state: State
    backbone: Backbone
    diffusion: Diffusion
    action_encoder: ActionEncoder
    graphs: Graphs
    scenes: list[Scene] = Field(min_length=1)
    eval: Optional[Eval] = None
    test_vectors: Optional[TestVectors] = None
    world: Optional[World] = None


# ---------------------------------------------------------------------------
# Which variant's file a reader takes.

T = TypeVar("T")


def pick_variant(available: Mapping[str, T | None], wanted: str) -> T:
    """The wanted variant if present, else the first present in VARIANTS order
    (fp32, fp16, q8, q4), as the runtime falls back (test/vectors/variant-fallback.json)."""
    for v in (wanted, *VARIANTS):
        if available.get(v) is not None:
            return available[v]
    raise KeyError(f"no variant at all (wanted {wanted!r})")


def graph_file(m: Manifest, graph: str, variant: str) -> FileRef:
    """The file of a graph for a variant, falling back where the bundle lacks it."""
    v = getattr(m.graphs, graph).variants
    return pick_variant({k: getattr(v, k) for k in VARIANTS}, variant)


# ---------------------------------------------------------------------------
# GLPConfig <-> manifest: where each of the config's numbers stands in the
# manifest. One table, read one way by the exporter and the other way by
# whatever runs a bundle without its checkpoint (model/sampler.py OnnxGraphs).

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


def flow_matching() -> dict:
    """The flow-matching convention, the one the schema allows (DESIGN: any equivalent one, if the manifest says which)."""
    return {name: get_args(f.annotation)[0] for name, f in FlowMatching.model_fields.items()}


def config_fields(cfg: GLPConfig) -> dict:
    """The manifest's fields that come from the model config (nested, JSON keys), flow matching included."""
    out: dict = {"diffusion": {"flowMatching": flow_matching()}}
    for path, attr in CONFIG_FIELDS:
        *parents, key = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = getattr(cfg, attr)
    return out


def config_from_manifest(m: Manifest) -> GLPConfig:
    """The model config a bundle was exported from, as far as its graphs' shapes go (the network's
    inner sizes are not in the manifest: they keep their defaults)."""
    data = m.model_dump(by_alias=True)

    def read(path):
        node = data
        for k in path.split("."):
            node = node[k]
        return node
    values = {attr: read(path) for path, attr in CONFIG_FIELDS}
    settable = {f.name: type(f.default) for f in fields(GLPConfig)}
    kwargs = {a: settable[a](v) for a, v in values.items() if a in settable}  # fps is a float on disk
    kwargs["vae_stages"] = int(math.log2(values["image_size"] // values["latent_size"]))
    cfg = GLPConfig(**kwargs)
    for path, attr in CONFIG_FIELDS:  # the derived numbers (latent size, turn and cache tokens) must agree too
        if getattr(cfg, attr) != read(path):
            raise ValueError(f"{path} is {read(path)}, but the rest of the manifest implies {getattr(cfg, attr)}")
    return cfg


def load_manifest(path: Path) -> Manifest:
    return Manifest.model_validate_json(Path(path).read_text())


def dump_manifest(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(by_alias=True, exclude_none=True), indent=2) + "\n"


def json_schema() -> dict:
    return Manifest.model_json_schema(by_alias=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", nargs="?", help="manifest.json to validate")
    ap.add_argument("--json-schema", action="store_true", help="print the JSON Schema of the manifest")
    args = ap.parse_args(argv)
    if args.json_schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if not args.manifest:
        ap.error("give a manifest path or --json-schema")
    try:
        m = load_manifest(Path(args.manifest))
    except ValidationError as e:
        for err in e.errors():
            print(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}", file=sys.stderr)
        return 1
    print(f"ok: {m.name} (format {m.format_version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
