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
from model.swin_dpm import STREAM_CHUNK, STREAM_HISTORY, SwinDpmSchedule, gaussian_noise

f32 = np.float32


# ---------------------------------------------------------------------------
# The five graphs, behind one interface (numpy in, numpy out, batch 1 squeezed
# exactly as exported).

class TorchGraphs:
    def __init__(self, model):
        import torch
        self.torch = torch
        self.model = model.eval()
        self.cfg: GLPConfig = model.cfg

    def _t(self, a):
        return self.torch.from_numpy(np.ascontiguousarray(a, dtype=f32))

    def encode_image(self, frame):  # (1, 3, H, W) -> (1, C, h, w)
        with self.torch.no_grad():
            return self.model.vae.encode(self._t(frame)).numpy()

    def decode(self, latents):  # (F, C, h, w) -> (F, 3, H, W)
        with self.torch.no_grad():
            return self.model.vae.decode(self._t(latents)).numpy()

    def observe(self, frames):  # (F, 3, H, W) -> (Ns, D)
        with self.torch.no_grad():
            return self.model.encoder(self._t(frames)[None])[0].numpy()

    def turn(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        with self.torch.no_grad():
            s, kv, m = self.model.backbone(self._t(prev_state)[None], self._t([is_first]), self._t(observed)[None],
                                           self._t(action)[None], self._t(action_mask)[None], self._t(past_kv)[None],
                                           self._t(past_mask)[None])
        return s[0].numpy(), kv[0].numpy(), m[0].numpy()

    def denoise(self, **x):
        t = {k: self._t(v) for k, v in x.items()}
        with self.torch.no_grad():
            e, l = self.model.denoise_call(
                t["history"][None], t["history_noise"][None], t["history_sigma"], t["earlier"][None], t["later"][None],
                t["sigma"][None], t["sigma_next"][None], t["earlier_present"], t["text"][None], t["text_mask"][None],
                t["state"][None])
        return e[0].numpy(), l[0].numpy()


class OnnxGraphs:
    """An exported bundle's graphs on onnxruntime (CPU).

    `OnnxGraphs(bundle, variant)` reads the bundle's manifest; the exporter,
    which checks graphs before any manifest exists, passes `files` (graph name
    -> path) and the model's `cfg` instead.
    """

    def __init__(self, bundle: Path | None = None, variant: str = "fp32", threads: int = 0,
                 files: dict[str, Path] | None = None, cfg: GLPConfig | None = None):
        import onnxruntime as ort

        if files is None:
            from model.manifest import load_manifest
            bundle = Path(bundle)
            m = load_manifest(bundle / "manifest.json")
            self.manifest = m
            cfg = GLPConfig(
                name=m.name, image_size=m.video.width, fps=int(m.video.fps), chunk_frames=m.video.chunk_frames,
                latent_channels=m.latent.channels, vae_stages=int(np.log2(m.video.width // m.latent.width)),
                state_tokens=m.state.tokens, state_width=m.state.width, queries=m.state.queries,
                backbone_layers=m.backbone.layers, backbone_heads=m.backbone.heads, max_turns=m.backbone.max_turns,
                max_action_tokens=m.action_encoder.max_tokens, text_width=m.action_encoder.width,
                denoise_steps=m.diffusion.denoise_steps, conditioning_noise=m.diffusion.conditioning_noise,
            )
            files = {}
            for name in ("vae_encoder", "vae_decoder", "encoder", "backbone", "decoder"):
                ref = getattr(m.graphs, name).variants
                files[name] = bundle / (getattr(ref, variant, None) or ref.fp32).file
        self.cfg = cfg
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        self.sessions = {name: ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
                         for name, path in files.items()}

    def _run(self, name, **feeds):
        return self.sessions[name].run(None, {k: np.ascontiguousarray(v, dtype=f32) for k, v in feeds.items()})

    def encode_image(self, frame):
        return self._run("vae_encoder", frames=frame)[0]

    def decode(self, latents):
        return self._run("vae_decoder", latents=latents)[0]

    def observe(self, frames):
        return self._run("encoder", frames=frames)[0]

    def turn(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        s, kv, m = self._run("backbone", prev_state=prev_state, is_first=np.array([is_first], f32), observed=observed,
                             action=action, action_mask=action_mask, past_kv=past_kv, past_mask=past_mask)
        return s, kv, m

    def denoise(self, **x):
        e, l = self._run("decoder", **x)
        return e, l


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
    text: np.ndarray       # (L, 384)
    text_mask: np.ndarray  # (L,)
    state: np.ndarray      # (Q, D)


class ReferenceSampler:
    def __init__(self, graphs, action_encoder, seed: int, idle_action: str = "wait"):
        self.g = graphs
        self.cfg: GLPConfig = graphs.cfg
        self.actions = action_encoder
        self.seed = int(seed) & 0xFFFFFFFF
        self.idle_action = idle_action
        self.schedule = SwinDpmSchedule(self.cfg.denoise_steps, self.cfg.state_lag)
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
        hs = cfg.state_width // cfg.backbone_heads
        self.kv = np.zeros((cfg.backbone_layers, 2, cfg.backbone_heads, cfg.cache_tokens, hs), f32)
        self.kv_mask = np.zeros(cfg.cache_tokens, f32)
        self.prev_state = np.zeros((cfg.queries, cfg.state_width), f32)
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

    def _enqueue(self, t: int):
        cfg = self.cfg
        action = self.queue.popleft() if self.queue else self.idle_action
        text, text_mask = self.actions.encode(action)
        observed = self.g.observe(self.observed_frames)
        state, self.kv, self.kv_mask = self.g.turn(self.prev_state, 1.0 if self.turns == 0 else 0.0, observed,
                                                   text, text_mask, self.kv, self.kv_mask)
        self.prev_state = state
        self.turns += 1
        shape = (cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        noise = gaussian_noise(self.seed, STREAM_CHUNK, t, int(np.prod(shape))).reshape(shape)
        self.later = _Slot(t, action, noise, text, text_mask, state)
        self.history_noise = gaussian_noise(self.seed, STREAM_HISTORY, t, int(np.prod(shape[1:]))).reshape(shape[1:])

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
    ap.add_argument("--actions", nargs="*", default=["push the red block to the left", "wait", "make the lights dim"])
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
