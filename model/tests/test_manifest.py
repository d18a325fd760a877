"""The manifest schema (model/manifest.py) refuses every bad case in the shared
test/vectors/manifest-cases.json, naming the field, just as the runtime's does."""
import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from model.manifest import Manifest, ManifestError, dump_manifest, expected_graph_io, load_manifest, validate_manifest

VECTORS = Path(__file__).resolve().parents[2] / "test" / "vectors"
CASES = json.loads((VECTORS / "manifest-cases.json").read_text())
BASE = json.loads((VECTORS / CASES["base"]).read_text())


def apply_case(case):
    data = copy.deepcopy(BASE)

    def walk(path):
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        node = data
        for k in keys[:-1]:
            node = node[k]
        return node, keys[-1]
    for path, value in case.get("set", {}).items():
        node, k = walk(path)
        node[k] = value
    for path in case.get("remove", []):
        node, k = walk(path)
        del node[k]
    return data


def test_base_manifest_is_valid():
    m = Manifest.model_validate(BASE)
    assert json.loads(dump_manifest(m)) == BASE  # and round-trips byte-for-byte as JSON


def test_world_block_is_optional():
    """A bundle made before the world block validates: its world keeps generating when nobody acts."""
    assert Manifest.model_validate(BASE).world.still_when_idle is True
    older = apply_case({"remove": ["world"]})
    assert Manifest.model_validate(older).world is None


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["name"])
def test_bad_manifest_names_the_field(case):
    """Every shared case, the graphs' shapes against the manifest's sizes included, as the runtime checks them."""
    with pytest.raises(ManifestError) as info:
        validate_manifest(apply_case(case))
    locs = [list(i.loc) for i in info.value.issues]
    assert any(loc[: len(case["field"])] == case["field"] for loc in locs), (case["field"], locs)
    assert "manifest.json is not a valid" in str(info.value)


def test_schema_errors_are_pydantics():
    """The schema alone (what the exporter builds with) raises pydantic's error, naming the field too."""
    with pytest.raises(ValidationError) as info:
        Manifest.model_validate(apply_case({"set": {"video.fps": "fast"}}))
    assert [list(e["loc"]) for e in info.value.errors()] == [["video", "fps"]]


def test_shape_issue_names_the_tensor_as_the_runtime_does():
    bad = apply_case({"set": {"graphs.decoder.inputs.3.shape": [4, 4, 8, 9]}})
    with pytest.raises(ManifestError) as info:
        validate_manifest(bad)
    assert [(i.field, i.message) for i in info.value.issues] == [
        ("graphs.decoder.inputs[3].shape", '"earlier" has shape [4,4,8,9] but the manifest\'s sizes imply [4,4,8,8]')]


def test_graph_io_names_are_the_wrappers():
    """The graph wrappers take and return the tensors `expected_graph_io` names, in its order."""
    from model.graphs import GRAPH_IO
    io = expected_graph_io(BASE)
    for g, (_, ins, outs) in GRAPH_IO.items():
        assert (ins, outs) == (list(io[g]["inputs"]), list(io[g]["outputs"])), g


@pytest.mark.parametrize("case, field", [({"set": {"video.fps": "fast"}}, "video.fps"),
                                         ({"set": {"latent.height": 16}}, "graphs.vae_encoder.outputs[0].shape")])
def test_cli_reports_fields(tmp_path, capsys, case, field):
    """`python -m model.manifest` refuses what the runtime refuses, a bundle whose shapes disagree with its sizes too."""
    from model.manifest import main
    p = tmp_path / "manifest.json"
    p.write_text(json.dumps(apply_case(case)))
    assert main([str(p)]) == 1
    assert field in capsys.readouterr().err


def test_exported_manifest_loads(tiny_bundle):
    out, _ = tiny_bundle
    m = load_manifest(out / "manifest.json")
    assert m.name == "tiny"
    # the tiny configuration's world is the tabletop: still when nobody acts, with its guide
    from model.world.guide import world_manifest
    assert m.model_dump(by_alias=True, exclude_none=True)["world"] == world_manifest(m.diffusion.window)


def test_variant_fallback_is_the_runtimes():
    """The shared cases the runtime's graphFile passes too (test/unit/loader.test.ts)."""
    from model.manifest import pick_variant
    for case in json.loads((VECTORS / "variant-fallback.json").read_text())["cases"]:
        assert pick_variant({v: f"{v}.onnx" for v in case["have"]}, case["want"]) == f"{case['pick']}.onnx", case


def test_config_reads_back_from_the_manifest(tiny_bundle):
    """One mapping, both ways: the config read back from an exported manifest writes the same fields."""
    from model.manifest import config_fields, config_from_manifest
    out, model = tiny_bundle
    m = load_manifest(out / "manifest.json")
    cfg = config_from_manifest(m)
    assert config_fields(cfg) == config_fields(model.cfg)
    data = m.model_dump(by_alias=True)
    for section, values in config_fields(cfg).items():
        assert values == data[section] if not isinstance(values, dict) else values.items() <= data[section].items()


def test_config_from_manifest_refuses_sizes_that_disagree():
    from model.manifest import config_from_manifest
    bad = Manifest.model_validate(apply_case({"set": {"backbone.cacheTokens": BASE["backbone"]["cacheTokens"] + 1}}))
    with pytest.raises(ValueError, match="backbone.cacheTokens"):
        config_from_manifest(bad)
