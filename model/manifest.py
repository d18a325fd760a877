"""The bundle contract, `manifest.json`, as the exporter writes it.

The runtime's twin is `src/contract/manifest.ts` (zod). Both define the same
JSON Schema; `test/unit/manifest-agreement.test.ts` proves it by comparing the
two, and both validate the shipped bundles: the schema, then every graph's
input and output shapes against the manifest's sizes (`expected_graph_io`,
model/contract.py). JSON keys are camelCase, as on disk.

`python -m model.manifest --json-schema` prints this side's schema
(`--test-vectors-json-schema`: the test-vector index's, model/contract.py);
`python -m model.manifest path/to/manifest.json` validates a bundle's manifest
and the test-vector index it names.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, Optional, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from model.config import GLPConfig
from model.contract import (CONFIG_FIELDS, GRAPH_NAMES, IDLE_ACTION, VARIANTS,  # noqa: F401  (re-exported)
                            TestVectorIndex, config_sizes, expected_graph_io, tensor_references)

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
    # The variant WASM runs unless another is asked for (absent: fp32); set only where its evaluation stayed
    # within 1 point of fp32's on every score (`python -m model.regraph --wasm-variant`).
    wasm_variant: Optional[Literal[VARIANTS]] = None
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
# GLPConfig <-> manifest: the table (CONFIG_FIELDS) is in model/contract.py.

def flow_matching() -> dict:
    """The flow-matching convention, the only one the schema allows (another would need a manifest value
    of its own, in both languages)."""
    return {name: get_args(f.annotation)[0] for name, f in FlowMatching.model_fields.items()}


def config_fields(cfg: GLPConfig) -> dict:
    """The manifest's fields that come from the model config (nested, JSON keys), flow matching included."""
    out = config_sizes(cfg)
    out["diffusion"]["flowMatching"] = flow_matching()
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


# ---------------------------------------------------------------------------
# Validation: the schema, then the graphs' shapes against the manifest's sizes, as the runtime checks
# them (src/contract/manifest.ts validateManifest). Both refuse test/vectors/manifest-cases.json alike.

@dataclass(frozen=True)
class ManifestIssue:
    """One problem with a manifest, at a JSON path such as ("graphs", "decoder", "inputs", 3, "shape")."""
    loc: tuple
    message: str

    @property
    def field(self) -> str:
        """The path as the runtime writes it: `graphs.decoder.inputs[3].shape`."""
        return "".join(f"[{p}]" if isinstance(p, int) else f"{'.' if i else ''}{p}" for i, p in enumerate(self.loc))


class ManifestError(ValueError):
    """A manifest that does not satisfy the contract; `issues` names every bad field."""
    what = "world-canvas bundle manifest"

    def __init__(self, issues: list[ManifestIssue], source: str = "manifest.json"):
        self.issues = issues
        super().__init__(f"{source} is not a valid {self.what}:\n"
                         + "\n".join(f"  - {i.field or '(root)'}: {i.message}" for i in issues))


class TestVectorIndexError(ManifestError):
    """A test-vector index (testvectors/index.json) that does not satisfy the contract."""
    __test__ = False  # (a name pytest would otherwise take for a test class)
    what = "test-vector index"


def graph_shape_issues(m: Manifest) -> list[ManifestIssue]:
    """Every graph input and output whose name or shape disagrees with the manifest's sizes
    (`expected_graph_io`), and a cache that is not maxTurns * turnTokens."""
    issues = []
    if m.backbone.cache_tokens != m.backbone.max_turns * m.backbone.turn_tokens:
        issues.append(ManifestIssue(("backbone", "cacheTokens"), "must equal maxTurns * turnTokens"))
    expected = expected_graph_io(m.model_dump(by_alias=True))
    for g in GRAPH_NAMES:
        graph = getattr(m.graphs, g)
        for side in ("inputs", "outputs"):
            want = expected[g][side]
            have = getattr(graph, side)
            names = {t.name for t in have}
            issues += [ManifestIssue(("graphs", g, side), f'missing tensor "{name}"') for name in want if name not in names]
            for i, t in enumerate(have):
                shape = want.get(t.name)
                if shape is None:
                    issues.append(ManifestIssue(("graphs", g, side, i, "name"), f'unexpected tensor "{t.name}"'))
                elif shape != t.shape:
                    issues.append(ManifestIssue((
                        "graphs", g, side, i, "shape"),
                        f'"{t.name}" has shape [{",".join(map(str, t.shape))}] but the manifest\'s sizes imply '
                        f'[{",".join(map(str, shape))}]'))
                elif t.dtype != "float32":
                    issues.append(ManifestIssue(("graphs", g, side, i, "dtype"),
                                                f'"{t.name}" must be float32 (every variant keeps float32 inputs and outputs)'))
    return issues


def validate_manifest(data, source: str = "manifest.json") -> Manifest:
    """The manifest in `data` (parsed JSON), checked as the runtime checks it: the schema first, then the
    graphs' shapes. Raises ManifestError naming every bad field."""
    try:
        m = Manifest.model_validate(data)
    except ValidationError as e:
        raise ManifestError([ManifestIssue(tuple(err["loc"]), err["msg"]) for err in e.errors()], source) from e
    issues = graph_shape_issues(m)
    if issues:
        raise ManifestError(issues, source)
    return m


_TEST_VECTOR_INDEX = TypeAdapter(TestVectorIndex)


def validate_test_vector_index(data, source: str = "testvectors/index.json") -> TestVectorIndex:
    """The test-vector index in `data` (parsed JSON), checked as the runtime checks it
    (src/contract/test-vectors.ts): the schema, then that every tensor it names is in `tensors`.
    Raises TestVectorIndexError naming every bad field; returns `data` as it is."""
    try:
        _TEST_VECTOR_INDEX.validate_python(data, strict=False)
    except ValidationError as e:
        raise TestVectorIndexError([ManifestIssue(tuple(err["loc"]), err["msg"]) for err in e.errors()], source) from e
    missing = [ManifestIssue(loc, f'no tensor "{key}" in tensors') for loc, key in tensor_references(data)
               if key not in data["tensors"]]
    if missing:
        raise TestVectorIndexError(missing, source)
    return data


def vector_index_json_schema() -> dict:
    return _TEST_VECTOR_INDEX.json_schema()


def load_manifest(path: Path) -> Manifest:
    """A bundle's manifest.json, validated (ManifestError when it is not a valid one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestError([ManifestIssue((), f"not JSON: {e}")], str(path)) from e
    return validate_manifest(data, str(path))


def dump_manifest(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(by_alias=True, exclude_none=True), indent=2) + "\n"


def json_schema() -> dict:
    return Manifest.model_json_schema(by_alias=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest", nargs="?", help="manifest.json to validate")
    ap.add_argument("--json-schema", action="store_true", help="print the JSON Schema of the manifest")
    ap.add_argument("--test-vectors-json-schema", action="store_true",
                    help="print the JSON Schema of a bundle's test-vector index (testvectors/index.json)")
    args = ap.parse_args(argv)
    if args.json_schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.test_vectors_json_schema:
        print(json.dumps(vector_index_json_schema(), indent=2))
        return 0
    if not args.manifest:
        ap.error("give a manifest path or --json-schema")
    try:
        m = load_manifest(Path(args.manifest))
        if m.test_vectors:  # the index the manifest names, beside it
            path = Path(args.manifest).parent / m.test_vectors.file
            validate_test_vector_index(json.loads(path.read_text()), str(path))
    except ManifestError as e:  # the manifest's, or its test-vector index's (TestVectorIndexError)
        print(f"{e.args[0].splitlines()[0]}", file=sys.stderr)
        for issue in e.issues:
            print(f"{issue.field or '(root)'}: {issue.message}", file=sys.stderr)
        return 1
    print(f"ok: {m.name} (format {m.format_version}{', with its test vectors' if m.test_vectors else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
