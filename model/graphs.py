"""The graph contract: the five ONNX graphs a bundle ships, as PyTorch modules.

Each wrapper takes and returns what the runtime feeds one graph (batch 1
squeezed away, inputs and outputs named as in `GRAPH_IO`); the exporter traces
them (model/export.py), the reference sampler runs them (`TorchGraphs` in
model/sampler.py), and the cost model counts their FLOPs (model/cost.py). The
shapes they imply are the manifest's (`expectedGraphIO` in
src/contract/manifest.ts checks a bundle against them).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from model.config import GLPConfig
from model.glp import GLP
from model.contract import GRAPH_NAMES


class VaeEncoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.vae = m.vae

    def forward(self, frames):  # (1, 3, H, W) -> (1, C, h, w)
        return self.vae.encode(frames)


class VaeDecoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.vae = m.vae

    def forward(self, latents):  # (F, C, h, w) -> (F, 3, H, W) in [0, 1]
        return self.vae.decode(latents)


class EncoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.encoder = m.encoder

    def forward(self, frames):  # (F, 3, H, W) -> (Ns, D)
        return self.encoder(frames[None])[0]


class BackboneGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.backbone = m.backbone

    def forward(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        s, kv, mask = self.backbone(prev_state[None], is_first, observed[None], action[None], action_mask[None],
                                    past_kv[None], past_mask[None])
        return s[0], kv[0], mask[0]


class DecoderGraph(nn.Module):
    def __init__(self, m: GLP):
        super().__init__()
        self.m = m

    def forward(self, history, history_noise, history_sigma, earlier, later, sigma, sigma_next,
                earlier_present, text, text_mask, state):
        e, l = self.m.denoise_call(history[None], history_noise[None], history_sigma, earlier[None], later[None],
                                   sigma[None], sigma_next[None], earlier_present, text[None], text_mask[None],
                                   state[None])
        return e[0], l[0]


# graph -> (wrapper, input names, output names), in the manifest's order.
GRAPH_IO = {
    "vae_encoder": (VaeEncoderGraph, ["frames"], ["latents"]),
    "vae_decoder": (VaeDecoderGraph, ["latents"], ["frames"]),
    "encoder": (EncoderGraph, ["frames"], ["state_tokens"]),
    "backbone": (BackboneGraph, ["prev_state", "is_first", "observed", "action", "action_mask", "past_kv", "past_mask"],
                 ["next_state", "present_kv", "present_mask"]),
    "decoder": (DecoderGraph, ["history", "history_noise", "history_sigma", "earlier", "later", "sigma", "sigma_next",
                               "earlier_present", "text", "text_mask", "state"], ["earlier_next", "later_next"]),
}
assert tuple(GRAPH_IO) == GRAPH_NAMES


def graph_module(model: GLP, graph: str) -> nn.Module:
    """The wrapper of one graph around `model`, in eval mode."""
    return GRAPH_IO[graph][0](model).eval()


def example_inputs(cfg: GLPConfig, graph: str, rng: np.random.Generator, text=None) -> dict[str, np.ndarray]:
    """Plausible fixed inputs for a graph (used for tracing and test vectors)."""
    F_, C, h, H = cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.image_size
    Q, D, Ns, L = cfg.queries, cfg.state_width, cfg.state_tokens, cfg.max_action_tokens
    n = lambda *s: rng.standard_normal(s).astype(np.float32)
    u = lambda *s: rng.uniform(0, 1, s).astype(np.float32)
    if text is None:
        text = (n(L, cfg.text_width), (np.arange(L) < 6).astype(np.float32))
    if graph == "vae_encoder":
        return {"frames": u(1, 3, H, H)}
    if graph == "vae_decoder":
        return {"latents": n(F_, C, h, h)}
    if graph == "encoder":
        return {"frames": u(F_, 3, H, H)}
    if graph == "backbone":
        hs = D // cfg.backbone_heads
        past_mask = np.zeros(cfg.cache_tokens, np.float32)
        past_mask[-2 * cfg.turn_tokens:] = 1.0  # two earlier turns
        past_mask[-cfg.turn_tokens + 2 * Q + Ns + 6: -Q] = 0.0  # padding of the last turn's action
        return {"prev_state": n(Q, D), "is_first": np.zeros(1, np.float32), "observed": n(Ns, D),
                "action": text[0], "action_mask": text[1],
                "past_kv": n(cfg.backbone_layers, 2, cfg.backbone_heads, cfg.cache_tokens, hs) * past_mask[None, None, None, :, None],
                "past_mask": past_mask}
    if graph == "decoder":
        t2 = np.stack([text[0], text[0][::-1].copy()]), np.stack([text[1], text[1]])
        return {"history": n(F_, C, h, h), "history_noise": n(C, h, h),
                "history_sigma": np.array([cfg.conditioning_noise], np.float32),
                "earlier": n(F_, C, h, h) * 0.5, "later": n(F_, C, h, h),
                "sigma": np.array([0.375, 0.875], np.float32), "sigma_next": np.array([0.25, 0.75], np.float32),
                "earlier_present": np.ones(1, np.float32), "text": t2[0], "text_mask": t2[1], "state": n(2, Q, D)}
    raise KeyError(graph)


def run_module(module: nn.Module, graph: str, inputs: dict[str, np.ndarray],
               device: torch.device | str = "cpu") -> list[np.ndarray]:
    """One call of a graph's wrapper on numpy inputs (by name), on the module's `device`; its outputs in
    GRAPH_IO's order, on the CPU."""
    _, in_names, _ = GRAPH_IO[graph]
    with torch.no_grad():
        out = module(*[torch.from_numpy(inputs[k]).to(device) for k in in_names])
    out = out if isinstance(out, tuple) else (out,)
    return [o.cpu().numpy() for o in out]


def run_torch(model: GLP, graph: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return run_module(graph_module(model, graph), graph, inputs)
