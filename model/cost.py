"""What one call of each graph costs: FLOPs (counted by PyTorch's FlopCounterMode
on the export wrappers, matrix products and convolutions) and parameter bytes,
and from them the cost of one generated frame. The benchmark divides these by
the throughput it measures to say how close a run is to the machine's limit.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from model.glp import GLP
from model.graphs import GRAPH_IO, example_inputs, graph_module


def graph_costs(model: GLP) -> dict:
    cfg = model.cfg
    rng = np.random.default_rng(0)
    # The parameters each graph actually holds (the wrappers reference the whole model).
    owners = {"vae_encoder": model.vae.encoder, "vae_decoder": model.vae.decoder, "encoder": model.encoder,
              "backbone": model.backbone, "decoder": model.decoder}
    out = {}
    for g, (_, in_names, _) in GRAPH_IO.items():
        mod = graph_module(model, g)
        inputs = example_inputs(cfg, g, rng)
        args = [torch.from_numpy(inputs[k]) for k in in_names]
        with FlopCounterMode(display=False) as fc:  # (its module tracker needs autograd on)
            mod(*args)
        params = sum(p.numel() for p in owners[g].parameters())
        out[g] = {"flops": int(fc.get_total_flops()), "params": int(params), "fp32Bytes": int(params) * 4}
    # One phase finishes one chunk: K/2 decoder calls, one encoder + backbone turn, one VAE decode.
    half = cfg.denoise_steps // 2
    per_chunk = half * out["decoder"]["flops"] + out["encoder"]["flops"] + out["backbone"]["flops"] + out["vae_decoder"]["flops"]
    weights_read = half * out["decoder"]["fp32Bytes"] + out["encoder"]["fp32Bytes"] + out["backbone"]["fp32Bytes"] + out["vae_decoder"]["fp32Bytes"]
    out["perFrame"] = {
        "flops": per_chunk / cfg.chunk_frames,
        "fp32WeightBytesRead": weights_read / cfg.chunk_frames,
        "decoderCallsPerChunk": half,
        "framesPerChunk": cfg.chunk_frames,
    }
    return out
