"""Quantized graph variants: weight-only 8- and 4-bit matrix products (the graph exporter's and the
action encoder's), and static 8-bit convolutions calibrated on the model's own rollouts (the
convolutional graphs' q8: weight-only quantization does not reach a convolution)."""
from __future__ import annotations

import logging
from pathlib import Path

import onnx


def matmul_nbits(src: Path, dst: Path, bits: int) -> bool:
    """MatMul weights to `bits`-bit blocks of 32, symmetric (MatMulNBits); activations
    stay fp32. False when the graph has no MatMul to quantize, and nothing is written."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)  # one line per node otherwise
    q = MatMulNBitsQuantizer(onnx.load(str(src)), bits=bits, block_size=32, is_symmetric=True)
    q.process()
    if not any(n.op_type == "MatMulNBits" for n in q.model.model.graph.node):
        return False
    q.model.save_model_to_file(str(dst), use_external_data_format=False)
    return True


# Actions of the calibration rollouts: every kind the tabletop knows, and the idle action between them.
CALIBRATION_ACTIONS = ["push the red block to the left", "wait", "slide the blue one up", "make the lights dim",
                       "move the green ball to the right", "add a yellow cube", "wait", "remove the purple triangle"]


def rollout_feeds(files: dict, cfg, encoder, scene_frames: list, graphs=("decoder", "vae_decoder"),
                  actions=CALIBRATION_ACTIONS) -> dict[str, list[dict]]:
    """What `graphs` are fed in rollouts of the fp32 graphs `files` (graph -> path) from each start scene,
    one chunk per action: the inputs a quantized graph meets in use, to calibrate its activations on."""
    import numpy as np

    from model.manifest import IDLE_ACTION
    from model.sampler import OnnxGraphs, ReferenceSampler
    feeds: dict[str, list[dict]] = {g: [] for g in graphs}

    class Recording(OnnxGraphs):
        def run(self, graph, **inputs):
            if graph in feeds:
                feeds[graph].append({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()})
            return super().run(graph, **inputs)

    g = Recording(files=files, cfg=cfg)
    for seed, frame in enumerate(scene_frames):
        sampler = ReferenceSampler(g, encoder, seed=seed, idle_action=IDLE_ACTION)
        sampler.start(frame)
        for a in actions:
            sampler.act(IDLE_ACTION if a == "wait" else a)
        sampler.run_chunks(len(actions))
    return feeds


def conv_int8(src: Path, dst: Path, feeds: list[dict]) -> bool:
    """Static 8-bit convolutions (QDQ, which onnxruntime runs as QLinearConv): per-channel signed weights,
    unsigned activations whose ranges are calibrated (min-max) on `feeds`, the graph's own inputs in use
    (`rollout_feeds`). Everything but Conv stays fp32: attention and normalisation keep their precision.
    False when the graph has no convolution, and nothing is written."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    if not any(n.op_type == "Conv" for n in onnx.load(str(src), load_external_data=False).graph.node):
        return False

    class Feeds(CalibrationDataReader):
        def __init__(self):
            self.rest = iter(feeds)

        def get_next(self):
            return next(self.rest, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the graph, once per call
    try:
        quantize_static(str(src), str(dst), Feeds(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    finally:
        root.setLevel(level)
    return True


def activation_grids(model) -> list:
    """The decoder's activation grids (model/glp.py ActivationGrid), in module order."""
    from model.glp import ActivationGrid
    return [m for m in model.decoder.modules() if isinstance(m, ActivationGrid)]


def calibrate_grid(model, encoder, scene_frames: list, actions=CALIBRATION_ACTIONS, log=print) -> int:
    """Set each decoder grid's step to its activation's range over rollouts of the model itself (grids
    off) from each start scene, divided into `cfg.decoder_grid_levels` steps (the range always includes
    0, which stays on the grid). Returns the number of grids; 0 when the config has none."""
    import torch

    from model.manifest import IDLE_ACTION
    from model.sampler import ReferenceSampler, TorchGraphs
    grids = activation_grids(model)
    levels = model.cfg.decoder_grid_levels
    if not grids or not levels:
        return 0
    for g in grids:
        g.set_step(0.0)
        g.observed = [0.0, 0.0]
    try:
        with torch.no_grad():
            for seed, frame in enumerate(scene_frames):
                sampler = ReferenceSampler(TorchGraphs(model), encoder, seed=seed, idle_action=IDLE_ACTION)
                sampler.start(frame)
                for a in actions:
                    sampler.act(IDLE_ACTION if a == "wait" else a)
                sampler.run_chunks(len(actions))
        for g in grids:
            lo, hi = g.observed
            g.set_step((hi - lo) / (levels - 1))
    finally:
        for g in grids:
            g.observed = None
    steps = [g.step for g in grids]
    log(f"decoder grid: {len(grids)} activations, {levels} steps across each one's range "
        f"(step {min(steps):.3g} to {max(steps):.3g}), calibrated on {len(scene_frames)} rollouts of {len(actions)} chunks")
    return len(grids)
