"""Rebuilding a bundle's VAE graph from its own weights (model/regraph.py): it writes only what reproduces
the bundle's test vectors, and leaves a bundle the runtime accepts."""
import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest

from model.contract import read_test_vectors
from model.manifest import load_manifest
from model.regraph import regraph, replace_section


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    out = tmp_path / "tiny"
    shutil.copytree(tiny_bundle[0], out)
    return out


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_regraph_rewrites_the_graph_and_every_reference_to_it(bundle_copy):
    changed = regraph(bundle_copy, "vae_decoder", log=lambda *a: None)
    assert changed["max_error"] < 1e-4
    m = load_manifest(bundle_copy / "manifest.json")
    for ref in (m.graphs.vae_decoder.variants.fp32, m.graphs.vae_decoder.variants.fp16):
        data = (bundle_copy / ref.file).read_bytes()
        assert len(data) == ref.bytes and hashlib.sha256(data).hexdigest() == ref.sha256
        ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
        assert "Expand" not in ops  # the upsampling is folded into the convolutions
    index = json.loads((bundle_copy / "testvectors" / "index.json").read_text())
    assert index["cost"]["perGraph"]["vae_decoder"]["flops"] == changed["flops"][1]
    assert "| vae_decoder | fp32 |" in (bundle_copy / "README.md").read_text()


def test_regraph_writes_nothing_when_the_test_vectors_disagree(bundle_copy):
    """A rebuilt graph that does not reproduce the bundle (here: its recorded output altered) is refused."""
    index, tensors = read_test_vectors(bundle_copy / "testvectors")
    key = index["graphs"]["vae_decoder"]["outputs"]["frames"]
    spec = index["tensors"][key]
    blob = bytearray((bundle_copy / "testvectors" / "vectors.bin").read_bytes())
    frames = np.frombuffer(bytes(blob[spec["offset"]:spec["offset"] + spec["bytes"]]), "<f4").copy()
    frames[0] += 0.01
    blob[spec["offset"]:spec["offset"] + spec["bytes"]] = frames.tobytes()
    (bundle_copy / "testvectors" / "vectors.bin").write_bytes(bytes(blob))
    before = {p: _sha(p) for p in bundle_copy.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="misses the bundle's test vectors"):
        regraph(bundle_copy, "vae_decoder", log=lambda *a: None)
    assert {p: _sha(p) for p in bundle_copy.rglob("*") if p.is_file()} == before


def test_only_the_vae_graphs_can_be_rebuilt(bundle_copy):
    with pytest.raises(ValueError, match="model.export"):
        regraph(bundle_copy, "decoder", log=lambda *a: None)


def test_replace_section_keeps_the_rest_of_the_card():
    card = "# t\n\n## Graphs\n\nold\n\n## Training\n\nkept\n"
    assert replace_section(card, "## Graphs", ["## Graphs", "", "new"]) == "# t\n\n## Graphs\n\nnew\n\n## Training\n\nkept\n"
    with pytest.raises(ValueError, match="no '## Scores' section"):
        replace_section(card, "## Scores", [])
