"""The decoder's activation grid (model/glp.py ActivationGrid, model/quantize.py calibrate_grid): it pulls
values toward multiples of its step and is continuous (backends agree within float error), it rides on the
convolutions without renaming their weights, and the exporter calibrates and exports it."""
import copy
import math

import numpy as np
import pytest
import torch

from model.checkpoint import random_model
from model.glp import ActivationGrid, GriddedConv2d, Upsample2x, UpsampleConv2x, fold_upsampling
from model.quantize import activation_grids, calibrate_grid


def test_uncalibrated_grid_passes_values_through():
    x = torch.randn(3, 4, 5)
    assert torch.equal(ActivationGrid()(x), x)


def test_grid_pulls_toward_multiples_of_its_step_and_is_continuous():
    g = ActivationGrid()
    g.set_step(0.5)
    assert g.step == pytest.approx(0.5)
    on = torch.arange(-8, 9, dtype=torch.float32) * 0.5
    assert torch.allclose(g(on), on, atol=1e-6)  # grid points stay
    x = torch.linspace(-4, 4, 10001)
    nearest = torch.round(x / 0.5) * 0.5
    off = (x - nearest).abs() > 1e-3
    closer = (g(x) - nearest).abs() < (x - nearest).abs()
    assert closer[off].all()  # everything else moves toward its nearest grid point
    # continuous: neighbouring inputs give neighbouring outputs, halfway between grid points included
    assert (g(x)[1:] - g(x)[:-1]).abs().max() < 2.01 * (x[1] - x[0])


def test_gridded_convolution_keeps_the_convolution_weight_names():
    plain, gridded = torch.nn.Conv2d(3, 4, 3), GriddedConv2d(3, 4, 3)
    names = set(gridded.state_dict())
    assert set(plain.state_dict()) <= names
    assert names - set(plain.state_dict()) == {"grid_in.w", "grid_in.c", "grid_out.w", "grid_out.c"}
    gridded.load_state_dict(plain.state_dict())  # a checkpoint from before the grid loads, uncalibrated
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(gridded(x), plain(x))


def test_folded_upsampling_keeps_the_grids():
    torch.manual_seed(0)
    conv = GriddedConv2d(4, 5, 3, padding=1)
    conv.grid_in.set_step(0.3)
    conv.grid_out.set_step(0.2)
    seq = torch.nn.Sequential(Upsample2x(), conv)
    folded = fold_upsampling(copy.deepcopy(seq))
    assert isinstance(folded[1], UpsampleConv2x)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert (folded(x) - seq(x)).abs().max() < 1e-5


def test_a_model_without_a_grid_has_none():
    assert activation_grids(random_model("tiny")) == []


def test_a_calibrated_grid_exports_and_matches_pytorch(text_encoder_dir, tmp_path):
    """Calibration gives every grid its own step from rollouts of the model; the gridded decoder exports
    (fp32 and fp16) and onnxruntime computes what PyTorch does."""
    import onnx

    from model.convert import check_round_trip, export_graph, ort_session, to_fp16
    from model.text_encoder import ActionEncoder
    from model.world import random_scene, render
    model = random_model("tiny", decoder_grid_levels=32)
    grids = activation_grids(model)
    conv_count = sum(isinstance(m, GriddedConv2d) for m in model.decoder.modules())
    assert conv_count > 0 and len(grids) == 2 * conv_count
    encoder = ActionEncoder(text_encoder_dir, model.cfg.max_action_tokens)
    frames = [render(random_scene(s), size=model.cfg.image_size) for s in (1, 2)]
    assert calibrate_grid(model, encoder, frames, actions=["wait", "push the red block to the left"],
                          log=lambda *_: None) == len(grids)
    steps = [g.step for g in grids]
    assert all(s > 0 and math.isfinite(s) for s in steps)
    assert len(set(round(s, 9) for s in steps)) > 1  # each activation has its own range
    assert all(g.observed is None for g in grids)

    rng = np.random.default_rng(0)
    path = tmp_path / "decoder.onnx"
    export_graph(model, "decoder", path, rng)
    # Within the runtime's parity tolerance (1e-3): random weights amplify float noise through a grid's
    # slope (up to 2) more than trained ones do (the shipped decoder: 4e-6).
    assert check_round_trip(model, "decoder", path, rng, tol=1e-3) <= 1e-3
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("Sin") >= len(grids)
    to_fp16(path, tmp_path / "decoder.fp16.onnx")  # the grid converts with the rest
    from model.graphs import example_inputs
    feeds = example_inputs(model.cfg, "decoder", rng)
    want = ort_session(path).run(None, feeds)
    got = ort_session(tmp_path / "decoder.fp16.onnx").run(None, feeds)
    assert all(np.isfinite(g).all() and np.abs(g - w).max() < 0.05 * (np.abs(w).max() + 1) for g, w in zip(got, want))
