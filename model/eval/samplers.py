"""
The world models evaluation drives, all behind the reference sampler's interface:

    s = make(seed).start(frame_uint8_HxWx3)   # a fresh session on a start frame
    s.act(text)                               # queue an action: it conditions one chunk
    chunks = s.run_chunks(n)                  # n FinishedChunk, frames (F, 3, H, W) in [0, 1]
    t = s.fork()                              # an independent branch at this point

- `ReferenceSampler` (model/sampler.py): the bundle as the runtime runs it,
  Causal Swin-DPM window of two chunks.
- `NoWindowSampler`: the ablation without the window. Every chunk is denoised
  alone from sigma 1 to 0 in K calls, conditioned on the last frame of the
  chunk before it, with the backbone's state as usual.
- `RepeatLastFrame`: no model at all; every chunk repeats the start frame.
"""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from model.sampler import FinishedChunk, OnnxGraphs, ReferenceSampler, frames_to_uint8

f32 = np.float32


@dataclass
class Bundle:
    """An exported bundle loaded for evaluation."""
    path: Path
    name: str
    variant: str
    graphs: OnnxGraphs
    actions: object  # model.text_encoder.ActionEncoder
    idle_action: str

    @property
    def size(self) -> int:
        return self.graphs.cfg.image_size

    @property
    def chunk_frames(self) -> int:
        return self.graphs.cfg.chunk_frames

    def sampler(self, seed: int) -> ReferenceSampler:
        return ReferenceSampler(self.graphs, self.actions, seed, self.idle_action)

    def no_window_sampler(self, seed: int) -> "NoWindowSampler":
        return NoWindowSampler(self.graphs, self.actions, seed, self.idle_action)


def load_bundle(path: Path, variant: str = "fp32", threads: int = 0) -> Bundle:
    from model.text_encoder import ActionEncoder
    path = Path(path)
    if not (path / "manifest.json").exists():
        raise FileNotFoundError(f"{path} is not a bundle: it has no manifest.json (export one with model.export)")
    graphs = OnnxGraphs(path, variant=variant, threads=threads)
    m = graphs.manifest
    actions = ActionEncoder(path / m.action_encoder.path, m.action_encoder.max_tokens)
    return Bundle(path, m.name, variant, graphs, actions, m.action_encoder.idle_action)


def chunk_frames_uint8(chunk: FinishedChunk) -> np.ndarray:
    """(F, H, W, 3) uint8 frames of a finished chunk."""
    return frames_to_uint8(chunk.frames)


class NoWindowSampler(ReferenceSampler):
    """
    Ablation: the same graphs without the Causal Swin-DPM window.

    Chunk t is generated on its own: its action turn runs on the backbone
    exactly as in ReferenceSampler (observation = the frames of chunk t - 2, the
    start frame for t < 2, so the backbone sees what it was trained on), then
    the decoder denoises it from sigma 1 to 0 in K calls with the earlier slot
    absent (earlier_present = 0, zeros at sigma 0, as in the sampler's phase 0)
    and the history = chunk t - 1 (the graph conditions on its last frame;
    the start frame for t = 0), noised to the conditioning sigma. Noise draws
    are the sampler's (seed, stream, chunk), so both see the same noise.
    """

    def start(self, frame: np.ndarray) -> "NoWindowSampler":
        super().start(frame)
        self.recent = deque([self.observed_frames] * 2, maxlen=2)  # frames of chunks t - 2, t - 1
        self.next_chunk = 0
        return self

    def fork(self) -> "NoWindowSampler":
        other = super().fork()
        other.recent = deque(self.recent, maxlen=2)
        return other

    def _chunk(self) -> FinishedChunk:
        cfg, t = self.cfg, self.next_chunk
        self.observed_frames = self.recent[0]
        slot = self._condition(t)
        latents = slot.latents
        K = cfg.denoise_steps
        for s in range(K):
            _, latents = self.g.denoise(
                history=self.history, history_noise=self.history_noise,
                history_sigma=np.array([cfg.conditioning_noise], f32),
                earlier=np.zeros_like(latents), later=latents,
                sigma=np.array([0.0, 1.0 - s / K], f32), sigma_next=np.array([0.0, 1.0 - (s + 1) / K], f32),
                earlier_present=np.array([0.0], f32),
                text=np.stack([slot.text, slot.text]), text_mask=np.stack([slot.text_mask, slot.text_mask]),
                state=np.stack([slot.state, slot.state]),
            )
        frames = self.g.decode(latents).astype(f32)  # (F, 3, H, W)
        self.history = latents
        self.recent.append(frames)
        self.next_chunk += 1
        return FinishedChunk(t, slot.action, frames)

    def step(self):
        raise NotImplementedError("NoWindowSampler makes whole chunks: use run_chunks")

    def run_chunks(self, n: int) -> list[FinishedChunk]:
        return [self._chunk() for _ in range(n)]


class RepeatLastFrame:
    """Baseline: the prediction for every chunk is the last frame before it, i.e. the start frame."""

    def __init__(self, chunk_frames: int):
        self.chunk_frames = chunk_frames
        self.next_chunk = 0

    def start(self, frame: np.ndarray) -> "RepeatLastFrame":
        x = np.asarray(frame, dtype=f32).transpose(2, 0, 1) / f32(255.0)  # (3, H, W)
        self.frames = np.repeat(x[None], self.chunk_frames, axis=0)  # (F, 3, H, W)
        self.next_chunk = 0
        return self

    def act(self, text: str) -> None:
        pass

    def fork(self) -> "RepeatLastFrame":
        return copy.copy(self)

    def run_chunks(self, n: int) -> list[FinishedChunk]:
        out = [FinishedChunk(self.next_chunk + i, "", self.frames) for i in range(n)]
        self.next_chunk += n
        return out


# A world model for evaluation: seed -> a fresh session with the interface above.
MakeSampler = Callable[[int], object]
