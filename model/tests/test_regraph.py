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
from model.regraph import add_int8_convolutions, regraph, replace_section, variant_shortfalls


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


def test_int8_convolutions_are_refused_when_the_rollout_drifts(bundle_copy):
    """The tiny bundle's random weights do not survive 8-bit convolutions (the exporter dropped them too):
    the q8 variant with them falls below the threshold, and nothing is written."""
    m = load_manifest(bundle_copy / "manifest.json")
    assert m.graphs.decoder.variants.q8 is None
    before = {p: _sha(p) for p in bundle_copy.rglob("*") if p.is_file()}
    with pytest.raises(RuntimeError, match="below"):
        add_int8_convolutions(bundle_copy, ["decoder", "vae_decoder"], log=lambda *a: None)
    assert {p: _sha(p) for p in bundle_copy.rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match="no convolution"):
        add_int8_convolutions(bundle_copy, ["backbone"], log=lambda *a: None)


def test_a_variant_is_wasms_default_only_within_a_point_of_fp32():
    fp32 = {"agent_fidelity": 0.70, "psnr": 19.5, "agent_position_error": 0.050, "baseline_repeat_psnr": 14.0,
            "planning_oracle": 1.0, "identity_64": 0.27}
    close = {"agent_fidelity": 0.695, "psnr": 18.7, "agent_position_error": 0.058, "identity_64": 0.40}
    assert variant_shortfalls(fp32, close) == []  # baselines and the oracle are not the model's
    worse = {"agent_fidelity": 0.68, "psnr": 18.4, "agent_position_error": 0.061}
    assert variant_shortfalls(fp32, worse) == ["agent_fidelity: 0.680 against 0.700", "psnr: 18.400 against 19.500",
                                               "agent_position_error: 0.061 against 0.050",
                                               "identity_64: not measured"]
