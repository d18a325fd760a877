"""Shared fixtures: one tiny bundle exported from random weights, reused by every test that needs files."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def text_encoder_dir(tmp_path_factory) -> Path:
    """The exported action encoder (build/text-encoder, made once from the PyPI package)."""
    from model.text_encoder import QUANTIZED_NAME, export_text_encoder
    d = ROOT / "build" / "text-encoder"
    if not (d / QUANTIZED_NAME).exists():
        export_text_encoder(d)
    return d


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, text_encoder_dir):
    """(bundle dir, the PyPI-free torch model it was exported from)."""
    from model.checkpoint import random_model
    from model.export import export_bundle
    model = random_model("tiny", seed=0)
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    export_bundle(model, out, text_encoder_from=text_encoder_dir, log=lambda *a: None)
    return out, model
