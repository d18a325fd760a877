"""Shared fixtures: one tiny bundle exported from random weights, reused by every test that needs files.

The test command runs these tests in two processes (pytest-xdist): what a fixture builds on disk is built
once, by whichever process comes first, under a file lock, and read by both."""
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]


def shared_dir(tmp_path_factory) -> Path:
    """A folder every test process of this run shares (the per-process temp folder's parent under xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@pytest.fixture(scope="session")
def text_encoder_dir(tmp_path_factory) -> Path:
    """The exported action encoder (build/text-encoder, made once from the PyPI package)."""
    from model.text_encoder import QUANTIZED_NAME, export_text_encoder
    d = ROOT / "build" / "text-encoder"
    d.parent.mkdir(exist_ok=True)
    with FileLock(str(d) + ".lock"):
        if not (d / QUANTIZED_NAME).exists():
            export_text_encoder(d)
    return d


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, text_encoder_dir):
    """(bundle dir, the PyPI-free torch model it was exported from)."""
    from model.checkpoint import random_model
    from model.export import export_bundle
    model = random_model("tiny", seed=0)
    out = shared_dir(tmp_path_factory) / "bundle" / "tiny"
    with FileLock(str(out.parent) + ".lock"):
        if not (out / "manifest.json").exists():
            export_bundle(model, out, text_encoder_from=text_encoder_dir, log=lambda *a: None)
    return out, model
