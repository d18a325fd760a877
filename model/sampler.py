"""The reference Causal Swin-DPM sampler: the runtime's behaviour, in Python.

`src/runtime/session.ts` does exactly what `ReferenceSampler` does, call for
call, with the same seeded noise; the exporter records a rollout of this
sampler as test vectors and the browser tests compare frames within 2/255.
The sampler runs on either the PyTorch model (`TorchGraphs`) or an exported
bundle's ONNX graphs (`OnnxGraphs`), so evaluation can score any bundle.

Per session:
  1. The start frame is encoded by the VAE; it is the history (conditioning
     frame) until chunk 0 finishes, and the encoder's observation for the
     first two turns.
  2. Before the first call of phase t, chunk t is enqueued: its action is the
     next queued one (or the bundle's idle action), the backbone runs one turn
     [s_{t-1}, h(frames of chunk t-2)][action][queries] -> s_t, and the later
     slot is filled with noise(seed, STREAM_CHUNK, t).
  3. Each call denoises both window chunks one step (the graph's Euler step).
  4. After the last call of phase t, the earlier chunk (t - 1) is clean: it is
     decoded to frames, becomes the history, and is what the encoder reads for
     turn t + 1. The later chunk moves to the earlier slot.
In phase 0 the earlier slot is empty: zeros, sigma 0, `earlier_present = 0`,
and its action/state conditioning is a copy of the later chunk's.
"""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.config import GLPConfig
from model.contract import GRAPH_NAMES, IDLE_ACTION, config_sizes, expected_graph_io
from model.swin_dpm import STREAM_CHUNK, STREAM_HISTORY, SwinDpmSchedule, gaussian_noise

f32 = np.float32


# ---------------------------------------------------------------------------
# The five graphs, behind one interface (numpy in, numpy out, batch 1 squeezed
# exactly as exported: model/graphs.py).

class Graphs:
    """What the sampler calls. A subclass says how one graph runs (`run`)."""

    cfg: GLPConfig

    def run(self, graph: str, **inputs: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def encode_image(self, frame):  # (1, 3, H, W) -> (1, C, h, w)
        return self.run("vae_encoder", frames=frame)[0]

    def decode(self, latents):  # (F, C, h, w) -> (F, 3, H, W)
        return self.run("vae_decoder", latents=latents)[0]

    def observe(self, frames):  # (F, 3, H, W) -> (Ns, D)
        return self.run("encoder", frames=frames)[0]

    def turn(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        s, kv, m = self.run("backbone", prev_state=prev_state, is_first=np.array([is_first], f32), observed=observed,
                            action=action, action_mask=action_mask, past_kv=past_kv, past_mask=past_mask)
        return s, kv, m

    def denoise(self, **x):
        e, l = self.run("decoder", **x)
        return e, l


class TorchGraphs(Graphs):
    """A PyTorch model through the export wrappers, i.e. exactly the graphs the exporter traces."""

    def __init__(self, model):
        # PyTorch only here: running an exported bundle (OnnxGraphs, model.eval) needs onnxruntime alone.
        from model.graphs import GRAPH_IO, graph_module, run_module
        self.cfg: GLPConfig = model.cfg
        self.device = next(model.parameters()).device  # numpy in and out; the graphs run where the model is
        self.modules = {g: graph_module(model.eval(), g) for g in GRAPH_IO}
        self._run_module = run_module

    def run(self, graph, **inputs):
        feeds = {k: np.ascontiguousarray(v, dtype=f32) for k, v in inputs.items()}
        return self._run_module(self.modules[graph], graph, feeds, self.device)


class OnnxGraphs(Graphs):
    """An exported bundle's graphs on onnxruntime (CPU).

    `OnnxGraphs(bundle, variant)` reads the bundle's manifest; the exporter,
    which checks graphs before any manifest exists, passes `files` (graph name
    -> path) and the model's `cfg` instead.
    """

    def __init__(self, bundle: Path | None = None, variant: str = "fp32", threads: int = 0,
                 files: dict[str, Path] | None = None, cfg: GLPConfig | None = None):
        import onnxruntime as ort

        # The manifest's reader needs pydantic; the sampler on PyTorch alone must not (model/contract.py).
        from model.manifest import config_from_manifest, graph_file, load_manifest
        if files is None:
            bundle = Path(bundle)
            m = load_manifest(bundle / "manifest.json")
            self.manifest = m
            cfg = config_from_manifest(m)
            files = {g: bundle / graph_file(m, g, variant).file for g in GRAPH_NAMES}
        self.cfg = cfg
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.sessions = {name: ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                         for name, path in files.items()}

    def run(self, graph, **inputs):
        return self.sessions[graph].run(None, {k: np.ascontiguousarray(v, dtype=f32) for k, v in inputs.items()})


# ---------------------------------------------------------------------------

@dataclass
class FinishedChunk:
    index: int
    action: str
    frames: np.ndarray  # (F, 3, H, W) float32 in [0, 1]


@dataclass
class _Slot:
    chunk: int
    action: str
    latents: np.ndarray    # (F, C, h, w)
    text: np.ndarray       # (L, T): the action encoder's token states
    text_mask: np.ndarray  # (L,)
    state: np.ndarray      # (Q, D)


class ReferenceSampler:
    def __init__(self, graphs: Graphs, action_encoder, seed: int, idle_action: str = IDLE_ACTION):
        self.g = graphs
        self.cfg: GLPConfig = graphs.cfg
        self.actions = action_encoder
        self.seed = int(seed) & 0xFFFFFFFF
        self.idle_action = idle_action
        self.schedule = SwinDpmSchedule(self.cfg.denoise_steps, self.cfg.state_lag)
        # The graphs' input shapes, as the manifest's sizes imply them (the runtime's, model/contract.py).
        io = expected_graph_io(config_sizes(self.cfg))
        self.turn_shapes = io["backbone"]["inputs"]
        self.call_shapes = io["decoder"]["inputs"]
        self.queue: deque[str] = deque()
        self.finished: list[FinishedChunk] = []
        self._call = 0

    # -- session -------------------------------------------------------------

    def start(self, frame: np.ndarray):
        """frame: (H, W, 3) uint8 start scene."""
        cfg = self.cfg
        x = (np.asarray(frame, dtype=f32).transpose(2, 0, 1) / f32(255.0))[None]  # (1, 3, H, W)
        z0 = self.g.encode_image(x)  # (1, C, h, w)
        self.history = np.repeat(z0, cfg.chunk_frames, axis=0)  # (F, C, h, w)
        self.observed_frames = np.repeat(x, cfg.chunk_frames, axis=0)  # (F, 3, H, W)
        # The backbone's first turn: no previous state, an empty KV cache.
        self.kv = np.zeros(self.turn_shapes["past_kv"], f32)
        self.kv_mask = np.zeros(self.turn_shapes["past_mask"], f32)
        self.prev_state = np.zeros(self.turn_shapes["prev_state"], f32)
        self.turns = 0
        self.earlier: _Slot | None = None
        self.later: _Slot | None = None
        self.history_noise = None
        self._call = 0
        self.finished = []
        return self

    def act(self, text: str):
        self.queue.append(text)

    def fork(self) -> "ReferenceSampler":
        """An independent copy at the current point (for planning and counterfactuals)."""
        other = copy.copy(self)
        other.queue = deque(self.queue)
        other.finished = list(self.finished)
        other.earlier = copy.copy(self.earlier)
        other.later = copy.copy(self.later)
        return other

    # -- one decoder call ----------------------------------------------------

    def _condition(self, t: int) -> _Slot:
        """Chunk t's action (the next queued, else the idle one), its backbone turn on the observed
        frames, and its initial noise; draws the history noise of phase t too."""
        action = self.queue.popleft() if self.queue else self.idle_action
        text, text_mask = self.actions.encode(action)
        observed = self.g.observe(self.observed_frames)
        state, self.kv, self.kv_mask = self.g.turn(self.prev_state, 1.0 if self.turns == 0 else 0.0, observed,
                                                   text, text_mask, self.kv, self.kv_mask)
        self.prev_state = state
        self.turns += 1
        shape, history_shape = self.call_shapes["later"], self.call_shapes["history_noise"]
        noise = gaussian_noise(self.seed, STREAM_CHUNK, t, int(np.prod(shape))).reshape(shape)
        self.history_noise = gaussian_noise(self.seed, STREAM_HISTORY, t, int(np.prod(history_shape))).reshape(history_shape)
        return _Slot(t, action, noise, text, text_mask, state)

    def _enqueue(self, t: int):
        self.later = self._condition(t)

    def step(self) -> FinishedChunk | None:
        """One decoder call; returns the chunk it finished, if any."""
        cfg = self.cfg
        call = self.schedule.call(self._call)
        if call.enqueue is not None:
            self._enqueue(call.enqueue)
        later = self.later
        earlier = self.earlier or _Slot(-1, later.action, np.zeros_like(later.latents), later.text, later.text_mask,
                                        later.state)
        earlier_next, later_next = self.g.denoise(
            history=self.history, history_noise=self.history_noise,
            history_sigma=np.array([cfg.conditioning_noise], f32),
            earlier=earlier.latents, later=later.latents,
            sigma=np.array(call.sigma, f32), sigma_next=np.array(call.sigma_next, f32),
            earlier_present=np.array([1.0 if self.earlier is not None else 0.0], f32),
            text=np.stack([earlier.text, later.text]), text_mask=np.stack([earlier.text_mask, later.text_mask]),
            state=np.stack([earlier.state, later.state]),
        )
        later.latents = later_next
        if self.earlier is not None:
            self.earlier.latents = earlier_next
        self._call += 1

        done = None
        if call.step == self.schedule.half - 1:  # end of phase: shift the window
            if call.finish is not None:
                frames = self.g.decode(self.earlier.latents)  # (F, 3, H, W)
                done = FinishedChunk(call.finish, self.earlier.action, frames.astype(f32))
                self.finished.append(done)
                self.history = self.earlier.latents
                self.observed_frames = frames
            self.earlier, self.later = self.later, None
        return done

    def run_chunks(self, n: int) -> list[FinishedChunk]:
        """Step until n more chunks are finished."""
        out = []
        while len(out) < n:
            done = self.step()
            if done is not None:
                out.append(done)
        return out


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8, rounding half up as the runtime does."""
    return np.floor(np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def main(argv=None):
    """Roll out a checkpoint or a bundle from a start scene and save the frames as one strip."""
    import argparse

    from PIL import Image

    from model.text_encoder import ActionEncoder
    from model.world import random_scene, render
    ap = argparse.ArgumentParser(description=main.__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--bundle", type=Path)
    ap.add_argument("--text-encoder", type=Path, default=Path("build/text-encoder"))
    ap.add_argument("--scene-seed", type=int, default=11)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--actions", nargs="*", default=["push the red block to the left", IDLE_ACTION, "make the lights dim"])
    ap.add_argument("--chunks", type=int, default=None, help="default: one per action, plus two")
    ap.add_argument("--out", type=Path, default=Path("rollout.png"))
    args = ap.parse_args(argv)
    if args.checkpoint:
        from model.checkpoint import load_checkpoint
        graphs = TorchGraphs(load_checkpoint(args.checkpoint)[0])
        enc_dir = args.text_encoder
    else:
        graphs = OnnxGraphs(args.bundle)
        enc_dir = args.bundle / "text-encoder"
    cfg = graphs.cfg
    start = render(random_scene(args.scene_seed), size=cfg.image_size)
    s = ReferenceSampler(graphs, ActionEncoder(enc_dir, cfg.max_action_tokens), seed=args.seed).start(start)
    for a in args.actions:
        s.act(a)
    chunks = s.run_chunks(args.chunks or len(args.actions) + 2)
    rows = [np.concatenate([start] + list(frames_to_uint8(c.frames)), axis=1) for c in chunks]
    pad = lambda r: np.pad(r, ((0, 0), (0, rows[0].shape[1] - r.shape[1]), (0, 0)))
    Image.fromarray(np.concatenate([pad(r) for r in rows], axis=0)).resize(
        (rows[0].shape[1] * 2, len(rows) * cfg.image_size * 2), Image.NEAREST).save(args.out)
    for c in chunks:
        print(f"chunk {c.index}: {c.action}")
    print(f"wrote {args.out} (rows: chunks; first column: the start scene)")


if __name__ == "__main__":
    main()
