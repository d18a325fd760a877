"""What one call of each graph costs: FLOPs (counted by PyTorch's FlopCounterMode
on the export wrappers, as exported, matrix products and convolutions) and parameter bytes,
and from them the cost of one generated frame. The benchmark divides these by
the throughput it measures to say how close a run is to the machine's limit.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from model.contract import ModelCost
from model.glp import GLP, UpsampleConv2x
from model.graphs import GRAPH_IO, example_inputs, export_model, graph_module


def graph_costs(model: GLP) -> ModelCost:
    """Each graph's cost per call (`perGraph`) and one generated frame's (`perFrame`), as the test-vector
    index carries them (model/contract.py ModelCost)."""
    cfg = model.cfg
    rng = np.random.default_rng(0)
    exported = export_model(model)  # what runs: the exported graphs' FLOPs and stored weights

    # The parameters each graph actually holds (the wrappers reference the whole model).
    def owners(m: GLP) -> dict:
        return {"vae_encoder": m.vae.encoder, "vae_decoder": m.vae.decoder, "encoder": m.encoder,
                "backbone": m.backbone, "decoder": m.decoder}
    per_graph = {}
    for g, (_, in_names, _) in GRAPH_IO.items():
        inputs = example_inputs(cfg, g, rng)
        args = [torch.from_numpy(inputs[k]) for k in in_names]
        with FlopCounterMode(display=False) as fc:  # (its module tracker needs autograd on)
            graph_module(exported, g)(*args)
        params = sum(p.numel() for p in owners(model)[g].parameters())
        # The exported graph's weights: the trained ones, with folded convolutions' kernels as they are stored.
        folded = owners(exported)[g]
        stored = sum(p.numel() for p in folded.parameters()) + sum(
            b.numel() for m in folded.modules() if isinstance(m, UpsampleConv2x) for b in m.buffers())
        per_graph[g] = {"flops": int(fc.get_total_flops()), "params": int(params), "fp32Bytes": int(stored) * 4}
    return {"perGraph": per_graph, "perFrame": frame_cost(cfg, per_graph)}


def frame_cost(cfg, per_graph: dict) -> dict:
    """One generated frame's cost from the graphs' per call (`perFrame` of the test-vector index's cost)."""
    # One phase finishes one chunk: K/2 decoder calls, one encoder + backbone turn, one VAE decode.
    half = cfg.denoise_steps // 2
    per_chunk = {k: half * per_graph["decoder"][k] + sum(per_graph[g][k] for g in ("encoder", "backbone", "vae_decoder"))
                 for k in ("flops", "fp32Bytes")}
    return {
        "flops": per_chunk["flops"] / cfg.chunk_frames,
        "fp32WeightBytesRead": per_chunk["fp32Bytes"] / cfg.chunk_frames,
        "decoderCallsPerChunk": half,
        "framesPerChunk": cfg.chunk_frames,
    }
