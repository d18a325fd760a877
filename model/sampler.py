"""The reference Causal Swin-DPM sampler: the runtime's behaviour, in PyTorch.

`src/runtime/world.ts` does exactly what `ReferenceSampler` does, call for
call, with the same seeded noise; the exporter records a rollout of this
sampler as test vectors and the browser tests compare frames within 2/255.

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

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from model.glp import GLP
from model.swin_dpm import STREAM_CHUNK, STREAM_HISTORY, SwinDpmSchedule, gaussian_noise


@dataclass
class FinishedChunk:
    index: int
    action: str
    frames: np.ndarray  # (F, 3, H, W) float32 in [0, 1]


@dataclass
class _Slot:
    chunk: int
    action: str
    latents: torch.Tensor      # (1, F, C, h, w)
    text: torch.Tensor         # (1, L, 384)
    text_mask: torch.Tensor    # (1, L)
    state: torch.Tensor        # (1, Q, D)


class ReferenceSampler:
    def __init__(self, model: GLP, action_encoder, seed: int, idle_action: str = "wait"):
        self.model = model.eval()
        self.cfg = model.cfg
        self.actions = action_encoder
        self.seed = int(seed) & 0xFFFFFFFF
        self.idle_action = idle_action
        self.schedule = SwinDpmSchedule(self.cfg.denoise_steps, self.cfg.state_lag)
        self.queue: deque[str] = deque()
        self.finished: list[FinishedChunk] = []
        self._call = 0

    # -- session -------------------------------------------------------------

    @torch.no_grad()
    def start(self, frame: np.ndarray):
        """frame: (H, W, 3) uint8 start scene."""
        cfg = self.cfg
        x = torch.from_numpy(np.array(frame, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0  # (1, 3, H, W)
        z0 = self.model.vae.encode(x)  # (1, C, h, w)
        self.history = z0[:, None].expand(1, cfg.chunk_frames, *z0.shape[1:]).contiguous()  # (1, F, C, h, w)
        self.observed_frames = x[:, None].expand(1, cfg.chunk_frames, *x.shape[1:]).contiguous()
        self.kv, self.kv_mask = self.model.backbone.empty_cache(1)
        self.prev_state = torch.zeros(1, cfg.queries, cfg.state_width)
        self.turns = 0
        self.earlier: _Slot | None = None
        self.later: _Slot | None = None
        self.history_noise = None

    def act(self, text: str):
        self.queue.append(text)

    # -- one decoder call ----------------------------------------------------

    @torch.no_grad()
    def _enqueue(self, t: int):
        cfg = self.cfg
        action = self.queue.popleft() if self.queue else self.idle_action
        states, mask = self.actions.encode(action)
        text, text_mask = torch.from_numpy(states)[None], torch.from_numpy(mask)[None]
        observed = self.model.encoder(self.observed_frames)
        state, self.kv, self.kv_mask = self.model.backbone(
            self.prev_state, torch.tensor([1.0 if self.turns == 0 else 0.0]), observed, text, text_mask,
            self.kv, self.kv_mask)
        self.prev_state = state
        self.turns += 1
        shape = (1, cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        noise = torch.from_numpy(gaussian_noise(self.seed, STREAM_CHUNK, t, int(np.prod(shape)))).reshape(shape)
        self.later = _Slot(t, action, noise, text, text_mask, state)
        hn = gaussian_noise(self.seed, STREAM_HISTORY, t, int(np.prod(shape[2:])))
        self.history_noise = torch.from_numpy(hn).reshape(1, *shape[2:])

    @torch.no_grad()
    def step(self) -> FinishedChunk | None:
        """One decoder call; returns the chunk it finished, if any."""
        cfg = self.cfg
        call = self.schedule.call(self._call)
        if call.enqueue is not None:
            self._enqueue(call.enqueue)
        later = self.later
        earlier = self.earlier or _Slot(-1, later.action, torch.zeros_like(later.latents), later.text,
                                        later.text_mask, later.state)
        earlier_next, later_next = self.model.denoise_call(
            self.history, self.history_noise, torch.tensor([cfg.conditioning_noise]),
            earlier.latents, later.latents,
            torch.tensor([call.sigma]), torch.tensor([call.sigma_next]),
            torch.tensor([1.0 if self.earlier is not None else 0.0]),
            torch.stack([earlier.text, later.text], 1), torch.stack([earlier.text_mask, later.text_mask], 1),
            torch.stack([earlier.state, later.state], 1),
        )
        later.latents = later_next
        if self.earlier is not None:
            self.earlier.latents = earlier_next
        self._call += 1

        done = None
        if call.step == self.schedule.half - 1:  # end of phase: shift the window
            if call.finish is not None:
                frames = self.model.vae.decode(self.earlier.latents[0])  # (F, 3, H, W)
                done = FinishedChunk(call.finish, self.earlier.action, frames.numpy().astype(np.float32))
                self.finished.append(done)
                self.history = self.earlier.latents
                self.observed_frames = frames[None]
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
    """(N, 3, H, W) float in [0, 1] -> (N, H, W, 3) uint8, rounding as the runtime does."""
    return np.clip(np.round(np.clip(frames, 0.0, 1.0) * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


__all__ = ["ReferenceSampler", "FinishedChunk", "frames_to_uint8"]
