"""The graph contract: the five ONNX graphs a bundle ships, as PyTorch modules.

Each wrapper takes and returns what the runtime feeds one graph (batch 1
squeezed away, inputs and outputs named as in `GRAPH_IO`); the exporter traces
them (model/export.py), the reference sampler runs them (`TorchGraphs` in
model/sampler.py), and the cost model counts their FLOPs (model/cost.py). The
shapes they take are the manifest's (`expected_graph_io` in model/contract.py,
`expectedGraphIO` in src/contract/manifest.ts: a bundle is checked against them).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

from model.config import GLPConfig
from model.glp import GLP, fold_upsampling
from model.contract import GRAPH_NAMES, config_sizes, expected_graph_io


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


# graph -> (wrapper, input names, output names), in the manifest's order (`expected_graph_io`'s).
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


def export_model(model: GLP) -> GLP:
    """A copy of `model` as it is exported: with the inference-only rewrites that compute the same
    functions with less work (`fold_upsampling`). `model` itself stays as trained, what the export is
    checked against."""
    return fold_upsampling(copy.deepcopy(model))


def export_module(model: GLP, graph: str) -> nn.Module:
    """The wrapper of one graph as it is exported (`export_model`)."""
    return graph_module(export_model(model), graph)


def example_inputs(cfg: GLPConfig, graph: str, rng: np.random.Generator, text=None) -> dict[str, np.ndarray]:
    """Plausible fixed inputs for a graph (used for tracing, test vectors and the cost model), at the
    shapes the manifest's sizes imply (`expected_graph_io`)."""
    io = expected_graph_io(config_sizes(cfg))
    shapes = io[graph]["inputs"]
    n = lambda shape: rng.standard_normal(shape).astype(np.float32)
    u = lambda shape: rng.uniform(0, 1, shape).astype(np.float32)
    if text is None:
        action = io["backbone"]["inputs"]["action"]  # (L, text width)
        text = (n(action), (np.arange(action[0]) < 6).astype(np.float32))
    if graph in ("vae_encoder", "encoder"):
        return {"frames": u(shapes["frames"])}
    if graph == "vae_decoder":
        return {"latents": n(shapes["latents"])}
    if graph == "backbone":
        past_mask = np.zeros(shapes["past_mask"], np.float32)
        past_mask[-2 * cfg.turn_tokens:] = 1.0  # two earlier turns
        past_mask[-cfg.turn_tokens + 2 * cfg.queries + cfg.state_tokens + 6: -cfg.queries] = 0.0  # the last turn's action padding
        return {"prev_state": n(shapes["prev_state"]), "is_first": np.zeros(shapes["is_first"], np.float32),
                "observed": n(shapes["observed"]), "action": text[0], "action_mask": text[1],
                "past_kv": n(shapes["past_kv"]) * past_mask[None, None, None, :, None], "past_mask": past_mask}
    if graph == "decoder":
        t2 = np.stack([text[0], text[0][::-1].copy()]), np.stack([text[1], text[1]])
        return {"history": n(shapes["history"]), "history_noise": n(shapes["history_noise"]),
                "history_sigma": np.array([cfg.conditioning_noise], np.float32),
                "earlier": n(shapes["earlier"]) * 0.5, "later": n(shapes["later"]),
                "sigma": np.array([0.375, 0.875], np.float32), "sigma_next": np.array([0.25, 0.75], np.float32),
                "earlier_present": np.ones(shapes["earlier_present"], np.float32), "text": t2[0], "text_mask": t2[1],
                "state": n(shapes["state"])}
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
