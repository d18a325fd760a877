"""PyTorch graph -> ONNX file: trace one export wrapper (model/graphs.py), make
its fp16 variant, read its inputs and outputs back for the manifest, and check
it against PyTorch in onnxruntime. (The weight-only q8/q4 variants: model/quantize.py.)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch

from model.glp import GLP
from model.graphs import GRAPH_IO, example_inputs, export_module, run_torch

OPSET = 18
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
               onnx.TensorProto.INT64: "int64", onnx.TensorProto.INT32: "int32",
               onnx.TensorProto.UINT8: "uint8", onnx.TensorProto.BOOL: "bool"}


def export_graph(model: GLP, graph: str, path: Path, rng: np.random.Generator) -> None:
    _, in_names, out_names = GRAPH_IO[graph]
    inputs = example_inputs(model.cfg, graph, rng)
    args = tuple(torch.from_numpy(inputs[k]) for k in in_names)
    program = torch.onnx.export(export_module(model, graph), args, input_names=in_names, output_names=out_names,
                                opset_version=OPSET, dynamo=True, verbose=False)
    program.save(str(path))
    # Keep weights inside the .onnx file: one file per graph and variant.
    m = onnx.load(str(path), load_external_data=True)
    onnx.save_model(m, str(path), save_as_external_data=False)
    for extra in path.parent.glob(path.name + ".data"):
        extra.unlink()


def to_fp16(src: Path, dst: Path) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16
    m = onnx.load(str(src))
    # Inputs and outputs stay fp32 so the runtime feeds every variant the same tensors.
    m16 = convert_float_to_float16(m, keep_io_types=True)
    onnx.save_model(m16, str(dst))


def graph_io(path: Path) -> tuple[list[dict], list[dict]]:
    """A graph file's inputs and outputs as the manifest's tensor specs."""
    m = onnx.load(str(path), load_external_data=False)
    init = {i.name for i in m.graph.initializer}

    def spec(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": ONNX_DTYPES[t.elem_type], "shape": [d.dim_value for d in t.shape.dim]}
    return [spec(v) for v in m.graph.input if v.name not in init], [spec(v) for v in m.graph.output]


def ort_session(path: Path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_round_trip(model: GLP, graph: str, path: Path, rng: np.random.Generator, tol: float) -> float:
    """Max abs difference between PyTorch (the model as trained, before export's rewrites) and
    onnxruntime on fresh inputs."""
    inputs = example_inputs(model.cfg, graph, rng)
    expected = run_torch(model, graph, inputs)
    got = ort_session(path).run(None, inputs)
    err = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
    if not err <= tol:
        raise RuntimeError(f"{path.name}: onnxruntime differs from PyTorch by {err:.3g} (tolerance {tol})")
    return err
