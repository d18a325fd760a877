"""The bundle's test vectors (`testvectors/`): each graph's inputs and outputs
in PyTorch, the action encoder's states for a few texts, and a reference
rollout of the PyTorch model that the runtime must reproduce within 2/255
(src/runtime/verify.ts, test/browser/parity.spec.ts); and the same rollout
replayed on a reduced-precision variant, to decide whether it ships.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from model.config import GLPConfig
from model.glp import GLP
from model.graphs import GRAPH_IO, example_inputs, run_torch
from model.manifest import GRAPH_NAMES, IDLE_ACTION
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


def write_test_vectors(model: GLP, out: Path, encoder: ActionEncoder, scene_png: Path, seed: int = 7,
                       chunks: int = 3) -> tuple[dict, dict]:
    """Write testvectors/; returns the manifest's reference to them and the rollout (for `rollout_psnr`)."""
    cfg = model.cfg
    vdir = out / "testvectors"
    vdir.mkdir(parents=True, exist_ok=True)
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
    index = {
        "tensors": w.tensors,
        "graphs": graphs,
        "texts": texts,
        "rollout": {"seed": seed, "scene": scene_png.stem, "actions": ROLLOUT_ACTIONS[:chunks], "chunks": chunks,
                    "frames": w.add("rollout.frames", frames)},
        "schedule": schedule_vectors(cfg.denoise_steps, 4),
        "noise": noise_vectors(),
        "tolerance": {"graph": 1e-3, "frame": 2.0 / 255.0},
    }
    (vdir / "vectors.bin").write_bytes(bytes(w.blob))
    (vdir / "index.json").write_text(json.dumps(index) + "\n")
    return {"file": "testvectors/index.json"}, {"frame": frame, "seed": seed, "actions": ROLLOUT_ACTIONS[:chunks],
                                                "frames": frames}


def rollout_psnr(cfg: GLPConfig, files: dict, encoder: ActionEncoder, rollout: dict) -> float:
    """PSNR of a variant's replay of the reference rollout against the fp32 PyTorch frames."""
    s = ReferenceSampler(OnnxGraphs(files=files, cfg=cfg), encoder, seed=rollout["seed"], idle_action=IDLE_ACTION)
    s.start(rollout["frame"])
    for a in rollout["actions"]:
        s.act(a)
    got = np.stack([c.frames for c in s.run_chunks(len(rollout["actions"]))])
    mse = float(np.mean((got - rollout["frames"]) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def add_index_fields(out: Path, **fields) -> None:
    p = out / "testvectors" / "index.json"
    index = json.loads(p.read_text())
    index.update(fields)
    p.write_text(json.dumps(index) + "\n")
