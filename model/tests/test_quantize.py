"""8-bit convolutions (model/quantize.py conv_int8): calibrated on the graph's own inputs, they keep its
outputs close; a graph without convolutions is left alone."""
import numpy as np
import onnx
import torch

from model.convert import ort_session
from model.quantize import conv_int8


def _export(module, x, path):
    torch.onnx.export(module.eval(), (x,), str(path), input_names=["x"], output_names=["y"], opset_version=18,
                      dynamo=True, verbose=False)
    onnx.save_model(onnx.load(str(path), load_external_data=True), str(path))


def test_int8_convolutions_keep_the_outputs_close(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 16, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(16, 3, 3, padding=1))
    x = torch.randn(2, 4, 8, 8)
    _export(net, x, tmp_path / "f32.onnx")
    rng = np.random.default_rng(0)
    calibration = [{"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)} for _ in range(16)]
    assert conv_int8(tmp_path / "f32.onnx", tmp_path / "q8.onnx", calibration)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "q8.onnx")).graph.node]
    assert ops.count("QuantizeLinear") >= 2 and ops.count("Conv") == 2
    held_out = {"x": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)}
    want = ort_session(tmp_path / "f32.onnx").run(None, held_out)[0]
    got = ort_session(tmp_path / "q8.onnx").run(None, held_out)[0]
    rms = float(np.sqrt(np.mean((got - want) ** 2)))
    assert rms < 0.05 * (want.max() - want.min())  # 8-bit steps of random weights and inputs: a few percent
    assert not np.array_equal(got, want)  # it is quantized


def test_a_graph_without_convolutions_is_left_alone(tmp_path):
    _export(torch.nn.Linear(8, 8), torch.randn(2, 8), tmp_path / "f32.onnx")
    assert not conv_int8(tmp_path / "f32.onnx", tmp_path / "q8.onnx", [{"x": np.zeros((2, 8), np.float32)}])
    assert not (tmp_path / "q8.onnx").exists()
