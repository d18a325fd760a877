"""The native side of the GPU benchmark: it runs on torch and numpy alone, and its weights check can fail."""
import base64
import json
import subprocess
import sys

import numpy as np
from PIL import Image

from model.manifest import IDLE_ACTION, load_manifest
from model.bench_pytorch import main
from model.text_encoder import ActionEncoder


def test_imports_nothing_a_driver_only_machine_lacks():
    blocked = ("pydantic", "tokenizers", "onnxruntime", "PIL", "transformers")
    code = f"import sys\nfor m in {blocked!r}: sys.modules[m] = None\nimport model.bench_pytorch"
    subprocess.run([sys.executable, "-c", code], check=True)


def write_plan(bundle, path, actions=("slide the blue one up",)):
    """A plan as src/bench/node/main.ts writes it (scene pixels and text encodings in base64)."""
    m = load_manifest(bundle / "manifest.json")
    rgba = np.asarray(Image.open(bundle / m.scenes[0].file).convert("RGBA"))
    enc = ActionEncoder(bundle / "text-encoder", m.action_encoder.max_tokens)
    b64 = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()
    texts = {t: {"states": b64(enc.encode(t)[0]), "mask": b64(enc.encode(t)[1])} for t in {IDLE_ACTION, *actions}}
    path.write_text(json.dumps({
        "bundle": str(bundle), "seed": 1, "chunks": 1, "idleAction": IDLE_ACTION, "actions": list(actions), "texts": texts,
        "scene": {"width": m.video.width, "height": m.video.height, "rgba": base64.b64encode(rgba.tobytes()).decode()},
    }))


def test_bench_pytorch_on_the_tiny_bundle(tiny_bundle, tmp_path):
    bundle, _ = tiny_bundle
    write_plan(bundle, tmp_path / "plan.json")
    main(["--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "same.json"), "--weights", "random:tiny:0",
          "--device", "cpu"])
    r = json.loads((tmp_path / "same.json").read_text())
    assert r["weights"]["matchBundle"] and r["device"] == "cpu"
    assert set(r["perGraphMs"]) == {"vae_encoder", "vae_decoder", "encoder", "backbone", "decoder"}
    assert r["steadyFps"] > 0 and r["actionToChunkMs"] > 0 and r["decoderCallMs"] > 0
    # Other weights than the bundle's are said to be so.
    main(["--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "other.json"), "--weights", "random:tiny:1",
          "--device", "cpu"])
    assert not json.loads((tmp_path / "other.json").read_text())["weights"]["matchBundle"]
