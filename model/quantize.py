"""Weight-only quantization of matrix products, shared by the graph exporter and
the action encoder's export."""
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
