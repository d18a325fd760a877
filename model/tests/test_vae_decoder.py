"""The light VAE decoder: its pixel shuffle, its graph, and training it on a frozen encoder."""
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from model.checkpoint import load_checkpoint
from model.config import get_config
from model.glp import VAE, PixelShuffle2x

ROOT = Path(__file__).resolve().parents[2]


def test_pixel_shuffle_is_torchs():
    x = torch.randn(2, 12, 5, 7)
    assert torch.equal(PixelShuffle2x()(x), torch.nn.PixelShuffle(2)(x))


def test_light_decoder_costs_less_and_keeps_the_contract():
    from torch.utils.flop_counter import FlopCounterMode
    cfg = get_config("cpu").model
    flops = {}
    for kind in ("mirror", "light"):
        vae = VAE(replace(cfg, vae_decoder=kind)).eval()
        z = torch.randn(2, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            y = vae.decode(z)
        assert y.shape == (2, 3, cfg.image_size, cfg.image_size)
        flops[kind] = fc.get_total_flops()
    assert flops["light"] < flops["mirror"] / 3


def test_light_decoder_graph_matches_torch(tmp_path):
    import onnxruntime as ort
    cfg = replace(get_config("tiny").model, vae_decoder="light")
    vae = VAE(cfg).eval()
    z = torch.randn(3, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    path = tmp_path / "vae_decoder.onnx"
    torch.onnx.export(vae.decoder, (z,), str(path), input_names=["z"], output_names=["y"], dynamo=False)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"z": z.numpy()})[0]
    with torch.no_grad():
        want = vae.decoder(z).numpy()
    assert np.abs(got - want).max() < 1e-4


def test_train_a_light_decoder_on_a_frozen_encoder(tmp_path, text_encoder_dir):
    run, data = tmp_path / "run", tmp_path / "data"
    cmd = [sys.executable, "-m", "model.train", "--config", "tiny", "--out", str(run), "--workers", "0",
           "--text-encoder", str(text_encoder_dir), "--data", str(data), "--data-shards", "1", "--shard-episodes", "4",
           "--precision", "fp32", "--set", "ae_steps=3", "glp_steps=2"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "light"
    cmd = [sys.executable, "-m", "model.vae_decoder", "--from", str(run / "glp.pt"), "--data", str(data),
           "--out", str(out), "--steps", "4", "--batch", "8", "--eval-every", "2", "--eval-frames", "4"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    source, _ = load_checkpoint(run / "glp.pt")
    model, meta = load_checkpoint(out / "glp.pt")
    assert model.cfg.vae_decoder == "light" and source.cfg.vae_decoder == "mirror"
    # Only the decoder is new: the encoder (and so every latent) and the rest of the model are the source's.
    new, old = model.state_dict(), source.state_dict()
    assert all(torch.equal(new[k], old[k]) for k in old if not k.startswith("vae.decoder."))
    rec = meta["vae_decoder"]
    assert rec["steps"] == 4 and rec["kind"] == "light" and np.isfinite(rec["heldout"]["psnr"])
    assert "psnr" in rec["source_decoder"] and rec["machine_peak"]["fp32_gflops"] > 0
