"""Derived checkpoints: what they change is recorded, and they never carry a probe of other weights."""
import torch

from model.checkpoint import derive_checkpoint, load_checkpoint, random_model
from model.probe import record_probe


def _finished_run(path, probe):
    model = random_model("tiny")
    state = model.state_dict()
    meta = {"stages": {"glp": {"steps": 7, "last_probe": probe}}, "best_probe": probe}
    torch.save({"config": model.cfg.to_dict(), "stage": "done", "step": 7, "meta": meta,
                "model": state, "ema": state}, path)
    return model


def test_a_derived_checkpoint_keeps_its_sources_probe_apart_until_probed(tmp_path):
    probe = {"step": 7, "cases": 64, "score": 0.9}
    source = _finished_run(tmp_path / "src.pt", probe)
    out = derive_checkpoint(tmp_path / "src.pt", tmp_path / "k2.pt", settings={"denoise_steps": 2})
    model, meta = load_checkpoint(out)
    assert model.cfg.denoise_steps == 2 and source.cfg.denoise_steps != 2
    assert "last_probe" not in meta["stages"]["glp"] and "best_probe" not in meta
    record = meta["derived"][-1]
    assert record["denoise_steps"] == {"was": source.cfg.denoise_steps, "now": 2}
    assert record["source_probe"] == probe

    record_probe(out, {"cases": 64, "score": 0.8})
    _, meta = load_checkpoint(out)
    assert meta["stages"]["glp"]["last_probe"] == {"step": 7, "cases": 64, "score": 0.8}


def test_a_bundles_autoencoder_reads_back_as_trained(tiny_bundle):
    """load_vae recovers every VAE weight from the exported graphs: the group norms' constants and the
    3x3 kernels the exporter folded into phase kernels (`fold_upsampling`) included."""
    from model.checkpoint import bundle_vae_config, load_vae
    from model.manifest import config_from_manifest, load_manifest
    out, model = tiny_bundle
    cfg = bundle_vae_config(out, config_from_manifest(load_manifest(out / "manifest.json")))
    assert (cfg.vae_width, cfg.vae_decoder) == (model.cfg.vae_width, model.cfg.vae_decoder)
    got = load_vae(out, cfg).state_dict()
    want = model.vae.state_dict()
    assert set(got) == set(want)
    for k, v in want.items():
        assert torch.allclose(got[k], v, atol=1e-5), k
