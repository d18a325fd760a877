"""The training losses, one nn.Module each so DDP can wrap them: the autoencoder's reconstruction
(stage 1), and stage 2's flow-matching loss on the decoder's windows with the backbone unrolled over an
episode's turns (GLPLoss), with its training-only readout heads. model/train.py runs them;
model/vae_decoder.py distils a light VAE decoder with the reconstruction loss."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from model.data import to_float_frames
from model.glp import GLP
from model.swin_dpm import sample_window_sigmas


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
