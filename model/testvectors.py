"""The bundle's test vectors (`testvectors/`): each graph's inputs and outputs
in PyTorch, the action encoder's states for a few texts, and a reference
rollout of the PyTorch model that the runtime must reproduce within 2/255
(src/runtime/verify.ts, test/browser/parity.spec.ts); and the same rollout
replayed on a reduced-precision variant, to decide whether it ships.

The exporter records them (`record_test_vectors`), replays the rollout on
each variant, counts the graphs' cost, and writes the index once
(`write_test_vectors`), checked against its declaration (`TestVectorIndex`,
model/contract.py; the runtime's: src/contract/test-vectors.ts).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from model.config import GLPConfig
from model.glp import GLP
from model.graphs import GRAPH_IO, example_inputs, run_torch
from model.contract import ModelCost, RolloutVectors, TestVectorIndex, VariantQuality
from model.manifest import GRAPH_NAMES, IDLE_ACTION, validate_test_vector_index
from model.sampler import OnnxGraphs, ReferenceSampler, TorchGraphs
from model.swin_dpm import noise_vectors, schedule_vectors
from model.text_encoder import ActionEncoder

ROLLOUT_ACTIONS = ["push the red block to the left", IDLE_ACTION, "slide the blue one up", "make the lights dim"]


class VectorWriter:
    """Tensors in one little-endian binary file, indexed by JSON."""

    def __init__(self):
        self.blob = bytearray()
        self.tensors: dict[str, dict] = {}

    def add(self, key: str, arr: np.ndarray) -> str:
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8"}[arr.dtype]
        while len(self.blob) % 8:
            self.blob.append(0)
        self.tensors[key] = {"dtype": dtype, "shape": list(arr.shape), "offset": len(self.blob), "bytes": arr.nbytes}
        self.blob += arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        return key


@dataclass
class RecordedVectors:
    """What the exporter records of the PyTorch model, before it is written: the tensors, the parts of
    the index they make, and the rollout (each reduced-precision variant replays it, `rollout_psnr`)."""
    writer: VectorWriter
    graphs: dict
    texts: list
    rollout: RolloutVectors
    frame: np.ndarray   # the start scene, (H, W, 3) uint8
    frames: np.ndarray  # the rollout's, (chunks, F, 3, H, W)


def record_test_vectors(model: GLP, encoder: ActionEncoder, scene_png: Path, seed: int = 7,
                        chunks: int = 3) -> RecordedVectors:
    """Each graph on example inputs, the action encoder on the rollout's texts, and a reference rollout."""
    cfg = model.cfg
    w = VectorWriter()
    rng = np.random.default_rng(1234)
    graphs = {}
    text = encoder.encode(ROLLOUT_ACTIONS[0])
    for g in GRAPH_NAMES:
        inputs = example_inputs(cfg, g, rng, text=text)
        outputs = run_torch(model, g, inputs)
        _, in_names, out_names = GRAPH_IO[g]
        graphs[g] = {"inputs": {k: w.add(f"{g}.in.{k}", inputs[k]) for k in in_names},
                     "outputs": {k: w.add(f"{g}.out.{k}", o) for k, o in zip(out_names, outputs)}}
    # Action encoder: token ids and states for the rollout's texts.
    texts = []
    for i, t in enumerate(ROLLOUT_ACTIONS + [IDLE_ACTION]):
        ids, mask = encoder.tokenize(t)
        states, _ = encoder.encode(t)
        texts.append({"text": t, "inputIds": w.add(f"text.{i}.ids", ids), "mask": w.add(f"text.{i}.mask", mask),
                      "states": w.add(f"text.{i}.states", states)})
    # A reference rollout.
    frame = np.asarray(Image.open(scene_png).convert("RGB"))
    sampler = ReferenceSampler(TorchGraphs(model), encoder, seed=seed, idle_action=IDLE_ACTION)
    sampler.start(frame)
    for a in ROLLOUT_ACTIONS[:chunks]:
        sampler.act(a)
    done = sampler.run_chunks(chunks)
    frames = np.stack([d.frames for d in done])  # (chunks, F, 3, H, W)
    rollout: RolloutVectors = {"seed": seed, "scene": scene_png.stem, "actions": ROLLOUT_ACTIONS[:chunks],
                               "chunks": chunks, "frames": w.add("rollout.frames", frames)}
    return RecordedVectors(w, graphs, texts, rollout, frame, frames)


def write_test_vectors(recorded: RecordedVectors, out: Path, denoise_steps: int, cost: ModelCost,
                       variant_quality: dict[str, VariantQuality]) -> dict:
    """Write testvectors/ (vectors.bin and its index, checked against the contract first); returns the
    manifest's reference to them."""
    index: TestVectorIndex = {
        "tensors": recorded.writer.tensors,
        "graphs": recorded.graphs,
        "texts": recorded.texts,
        "rollout": recorded.rollout,
        "schedule": schedule_vectors(denoise_steps, 4),
        "noise": noise_vectors(),
        "tolerance": {"graph": 1e-3, "frame": 2.0 / 255.0},
        "cost": cost,
        "variantQuality": variant_quality,
    }
    validate_test_vector_index(index)
    vdir = out / "testvectors"
    vdir.mkdir(parents=True, exist_ok=True)
    (vdir / "vectors.bin").write_bytes(bytes(recorded.writer.blob))
    (vdir / "index.json").write_text(json.dumps(index) + "\n")
    return {"file": "testvectors/index.json"}


def rollout_psnr(cfg: GLPConfig, files: dict, encoder: ActionEncoder, recorded: RecordedVectors) -> float:
    """PSNR of a variant's replay of the reference rollout against the fp32 PyTorch frames."""
    r = recorded.rollout
    s = ReferenceSampler(OnnxGraphs(files=files, cfg=cfg), encoder, seed=r["seed"], idle_action=IDLE_ACTION)
    s.start(recorded.frame)
    for a in r["actions"]:
        s.act(a)
    got = np.stack([c.frames for c in s.run_chunks(len(r["actions"]))])
    mse = float(np.mean((got - recorded.frames) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
