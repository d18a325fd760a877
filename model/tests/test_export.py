"""Export round trip: every graph in onnxruntime matches PyTorch, the manifest
describes the files truthfully, and the exported graphs replay the reference
rollout."""
import hashlib
import json

import numpy as np
import onnx
import pytest

from model.convert import ort_session
from model.graphs import GRAPH_IO, example_inputs, run_torch
from model.manifest import GRAPH_NAMES, load_manifest, validate_test_vector_index
from model.sampler import OnnxGraphs, ReferenceSampler, TorchGraphs
from model.contract import read_test_vector_index, read_test_vectors
from model.text_encoder import ActionEncoder


def test_manifest_describes_the_files(tiny_bundle):
    out, _ = tiny_bundle
    m = load_manifest(out / "manifest.json")
    refs = [getattr(m.graphs, g).variants for g in GRAPH_NAMES]
    files = [f for v in refs for f in (v.fp32, v.fp16) if f] + list(m.action_encoder.files) + list(m.scenes)
    for f in files:
        data = (out / f.file).read_bytes()
        assert len(data) == f.bytes and hashlib.sha256(data).hexdigest() == f.sha256, f.file


def test_manifest_io_matches_the_graphs(tiny_bundle):
    out, _ = tiny_bundle
    m = load_manifest(out / "manifest.json")
    for g in GRAPH_NAMES:
        spec = getattr(m.graphs, g)
        for variant in ("fp32", "fp16"):
            model = onnx.load(str(out / getattr(spec.variants, variant).file), load_external_data=False)
            names = [i.name for i in model.graph.input if i.name not in {x.name for x in model.graph.initializer}]
            assert names == [t.name for t in spec.inputs] == GRAPH_IO[g][1]
            assert [o.name for o in model.graph.output] == [t.name for t in spec.outputs] == GRAPH_IO[g][2]
            shapes = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input if i.name in names]
            assert shapes == [t.shape for t in spec.inputs]


@pytest.mark.parametrize("graph", GRAPH_NAMES)
def test_graph_round_trip(tiny_bundle, graph):
    out, model = tiny_bundle
    rng = np.random.default_rng(42)
    inputs = example_inputs(model.cfg, graph, rng)
    expected = run_torch(model, graph, inputs)
    got32 = ort_session(out / "graphs" / f"{graph}.onnx").run(None, inputs)
    got16 = ort_session(out / "graphs" / f"{graph}.fp16.onnx").run(None, inputs)
    for e, a, b in zip(expected, got32, got16):
        assert np.abs(e - a).max() < 1e-4
        scale = max(1.0, float(np.abs(e).max()))
        assert np.abs(e - b).max() < 2e-2 * scale  # fp16 math, fp32 inputs and outputs


def test_exported_graphs_replay_the_reference_rollout(tiny_bundle, text_encoder_dir):
    """Python twin of the browser parity test: the ONNX graphs, scheduled by the
    reference sampler, reproduce the recorded PyTorch rollout."""
    out, model = tiny_bundle
    index, tensors = read_test_vectors(out / "testvectors")
    expected = tensors[index["rollout"]["frames"]]
    from PIL import Image
    frame = np.asarray(Image.open(out / "scenes" / f"{index['rollout']['scene']}.png").convert("RGB"))
    enc = ActionEncoder(out / "text-encoder", model.cfg.max_action_tokens)
    s = ReferenceSampler(OnnxGraphs(out), enc, seed=index["rollout"]["seed"]).start(frame)
    for a in index["rollout"]["actions"]:
        s.act(a)
    got = np.stack([c.frames for c in s.run_chunks(index["rollout"]["chunks"])])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < index["tolerance"]["frame"]
    # and the torch sampler is deterministic given the seed
    s2 = ReferenceSampler(TorchGraphs(model), enc, seed=index["rollout"]["seed"]).start(frame)
    for a in index["rollout"]["actions"]:
        s2.act(a)
    again = np.stack([c.frames for c in s2.run_chunks(index["rollout"]["chunks"])])
    assert np.array_equal(again, expected)


def test_test_vectors_cover_every_graph(tiny_bundle):
    out, _ = tiny_bundle
    index = validate_test_vector_index(read_test_vector_index(out / "testvectors"))
    m = load_manifest(out / "manifest.json")
    for g in GRAPH_NAMES:
        spec = getattr(m.graphs, g)
        assert list(index["graphs"][g]["inputs"]) == [t.name for t in spec.inputs]
        assert list(index["graphs"][g]["outputs"]) == [t.name for t in spec.outputs]
        for name, key in index["graphs"][g]["inputs"].items():
            shape = next(t.shape for t in spec.inputs if t.name == name)
            assert index["tensors"][key]["shape"] == shape


def test_text_encoder_is_minilm(text_encoder_dir):
    """The int8 ONNX export keeps MiniLM's token states (close to the fp32 PyTorch model)."""
    import torch
    from transformers import BertModel

    from model.text_encoder import source_dir
    enc = ActionEncoder(text_encoder_dir, 16)
    bert = BertModel.from_pretrained(str(source_dir()), add_pooling_layer=False).eval()
    for text in ["push the red block left", "make the lights dim", "wait"]:
        states, mask = enc.encode(text)
        ids, m = enc.tokenize(text)
        assert ids[0] == 101 and ids[int(m.sum()) - 1] == 102  # [CLS] ... [SEP]
        with torch.no_grad():
            ref = bert(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.from_numpy(m)[None]).last_hidden_state[0].numpy()
        n = int(mask.sum())
        cos = (states[:n] * ref[:n]).sum(-1) / np.linalg.norm(states[:n], axis=-1) / np.linalg.norm(ref[:n], axis=-1)
        # int8 dynamic quantization costs a little per token; the model trains on these same states
        assert cos.mean() > 0.95 and cos.min() > 0.9, (text, cos)


def test_long_actions_are_truncated_to_max_tokens(text_encoder_dir):
    enc = ActionEncoder(text_encoder_dir, 8)
    ids, mask = enc.tokenize("push the red block all the way to the far left edge of the table please")
    assert len(ids) == 8 and mask.sum() == 8 and ids[-1] == 102


def test_model_card_reports_training_and_which_loss(tiny_bundle):
    from model.model_card import model_card
    out, _ = tiny_bundle
    manifest = load_manifest(out / "manifest.json")
    meta = {"command": "python -m model.train --config cpu --out runs/a", "config": "cpu", "hardware": "2 cores",
            "wall_seconds": 3720.0,
            "resumes": [{"stage": "done", "step": 2000, "command": "python -m model.train --resume --set glp_steps=9"}],
            "stages": {"ae": {"steps": 5, "seconds": 60.0, "frames": 90, "final_loss": 0.5},
                       "glp": {"steps": 9, "seconds": 3660.0, "episodes": 72, "frames": 900, "final_loss": 0.25,
                               "motion_weight": 10.0}}}
    card = model_card(manifest, meta, notes="It does not move things yet.")
    assert "- Resumed at done step 2000 with: `python -m model.train --resume --set glp_steps=9`" in card
    assert "Wall time: 1h 02m" in card
    assert "flow matching 0.2500 (changed latent cells weighted x10)" in card
    assert card.rstrip().endswith("## Limitations\n\nIt does not move things yet.")
    meta["stages"]["glp"]["motion_weight"] = 1.0
    assert "flow matching 0.2500\n" in model_card(manifest, meta)  # the plain loss needs no label
    assert "Untrained (random weights)" in model_card(manifest, {})


def test_test_vector_index_is_checked_as_the_runtime_checks_it(tiny_bundle):
    """The index the exporter wrote is the contract's (src/contract/test-vectors.ts), and a reader is told
    which field is wrong: a layout of an older exporter, or a tensor the index names but does not hold."""
    from model.manifest import TestVectorIndexError
    out, _ = tiny_bundle
    index = read_test_vector_index(out / "testvectors")
    assert set(index["cost"]) == {"perGraph", "perFrame"} and set(index["cost"]["perGraph"]) == set(GRAPH_NAMES)
    flat = {**index, "cost": {**index["cost"]["perGraph"], "perFrame": index["cost"]["perFrame"]}}
    with pytest.raises(TestVectorIndexError) as info:
        validate_test_vector_index(flat)
    assert ("cost", "perGraph") in [i.loc for i in info.value.issues]
    dangling = {**index, "rollout": {**index["rollout"], "frames": "rollout.missing"}}
    with pytest.raises(TestVectorIndexError) as info:
        validate_test_vector_index(dangling)
    assert [(i.field, i.message) for i in info.value.issues] == [("rollout.frames", 'no tensor "rollout.missing" in tensors')]
