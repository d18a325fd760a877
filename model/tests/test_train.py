"""Training runs end to end on the tiny config: both stages, resume, and DDP through torchrun."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def train(out, *extra, env=None):
    cmd = [sys.executable, "-m", "model.train", "--config", "tiny", "--out", str(out), "--workers", "0", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def rows(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_two_stages_then_resume(tmp_path, text_encoder_dir):
    out = tmp_path / "run"
    r = train(out, "--text-encoder", str(text_encoder_dir), "--set", "ae_steps=4", "glp_steps=3", "log_every=1",
              "checkpoint_every=2")
    assert r.returncode == 0, r.stderr[-2000:]
    log = rows(out)
    assert [x["step"] for x in log if x["stage"] == "ae"] == [1, 2, 3, 4]
    assert [x["step"] for x in log if x["stage"] == "glp"] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(x["loss"])) for x in log)
    model, meta = load_checkpoint(out / "glp.pt")
    assert model.vae.latent_scale.item() != 1.0  # measured after stage 1
    assert meta["stages"]["glp"]["episodes"] == 3 * 2  # steps x glp_batch
    assert meta["stages"]["glp"]["motion_weight"] == 10.0  # the card names the loss its final value is
    assert "CPU" in meta["hardware"] and meta["command"].startswith("python -m model.train")
    # a run killed after its last checkpoint logged steps it will run again: resuming drops them
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps({"stage": "glp", "step": 4, "loss": 9.0}) + "\n")
    # resume a finished run with more steps: it continues where it stopped
    r = train(out, "--resume", "--text-encoder", str(text_encoder_dir), "--set", "ae_steps=4", "glp_steps=5",
              "log_every=1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed" in r.stdout
    assert [x["step"] for x in rows(out) if x["stage"] == "glp"] == [1, 2, 3, 4, 5]
    assert 9.0 not in [x["loss"] for x in rows(out)]
    _, meta = load_checkpoint(out / "glp.pt")
    assert [(r["stage"], r["step"]) for r in meta["resumes"]] == [("done", 3)]
    assert "glp_steps=5" in meta["resumes"][0]["command"]


def test_ddp_through_torchrun(tmp_path, text_encoder_dir):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "model.train",
           "--config", "tiny", "--out", str(out), "--workers", "0", "--text-encoder", str(text_encoder_dir),
           "--set", "ae_steps=2", "glp_steps=2", "log_every=1"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    _, meta = load_checkpoint(out / "glp.pt")
    assert meta["hardware"].startswith("2 process(es)")
    assert meta["stages"]["glp"]["episodes"] == 2 * 2 * 2  # steps x batch x ranks


def test_change_weights_pick_out_what_moved():
    from model.losses import change_weights
    history = torch.zeros(2, 4, 8, 8)
    chunk = torch.zeros(2, 3, 4, 8, 8)
    chunk[0, 1, :, 2:4, 5] = 1.0  # an object appears in frame 1 of window 0, all channels
    chunk[1, :, 0, 0, 0] = 0.5    # one channel of one cell: mean |diff| 0.125, under the threshold
    w = change_weights(chunk, history, motion_weight=10.0)
    assert w.shape == (2, 3, 1, 8, 8)
    assert w[0, 1, 0, 2:4, 5].eq(10.0).all() and w[0, 1].sum() == 62 + 20
    assert w[0, 0].eq(1.0).all() and w[1].eq(1.0).all()
    assert change_weights(chunk, history, motion_weight=1.0).eq(1.0).all()  # the plain loss



def test_pre_encoded_shards_and_exact_resume(tmp_path, text_encoder_dir):
    """Stage 2 from pre-encoded shards (built by the run); a run stopped after a checkpoint and
    resumed takes exactly the steps an uninterrupted one takes: weights, optimizer, RNG and data
    position all come back."""
    common = ["--text-encoder", str(text_encoder_dir), "--data", str(tmp_path / "data"), "--data-shards", "2",
              "--shard-episodes", "3", "--precision", "fp32",
              "--set", "ae_steps=2", "glp_steps=6", "log_every=1", "checkpoint_every=3"]
    whole = tmp_path / "whole"
    r = train(whole, *common)
    assert r.returncode == 0, r.stderr[-2000:]
    index = json.loads((tmp_path / "data" / "index.json").read_text())
    assert index["episodes_per_shard"] == 3 and (tmp_path / "data" / "shard-0001.npz").exists()
    meta = torch.load(whole / "glp.pt", weights_only=False)["meta"]
    assert meta["stages"]["glp"]["precision"] == "fp32" and meta["stages"]["glp"]["step_gflop"] > 0
    assert meta["machine_peak"]["fp32_gflops"] > 0

    part = tmp_path / "part"
    r = train(part, *common, "--stop-after", "3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not (part / "glp.pt").exists() and "stopped at glp step 3" in r.stdout
    r = train(part, *common, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    a = {x["step"]: x["loss"] for x in rows(whole) if x["stage"] == "glp"}
    b = {x["step"]: x["loss"] for x in rows(part) if x["stage"] == "glp"}
    assert sorted(b) == list(range(1, 7))
    assert all(abs(a[k] - b[k]) <= 1e-6 * abs(a[k]) for k in a), (a, b)
    _, meta = load_checkpoint(part / "glp.pt")
    assert [(r["stage"], r["step"]) for r in meta["resumes"]] == [("glp", 3)]


def test_drawn_history_replaces_only_histories_inference_draws():
    """With self_history, windows whose history frame inference draws itself (later chunk t >= 2) get the
    model's own drawing of chunk t - 2 instead of the true frame; windows on the start frame keep it."""
    from model.config import get_config
    from model.glp import GLP
    from model.losses import GLPLoss
    cfg = get_config("tiny").model
    torch.manual_seed(0)
    model = GLP(cfg)
    for p in model.decoder.out.parameters():  # a decoder that draws something (zero-init draws no change)
        torch.nn.init.normal_(p, std=0.1)
    loss = GLPLoss(model, windows_per_episode=2, motion_weight=10.0, self_history=1.0)
    B, n, Fc = 2, 4, cfg.chunk_frames
    latents = torch.randn(B, 1 + n * Fc, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    text = torch.randn(B, n, cfg.max_action_tokens, cfg.text_width)
    mask = torch.ones(B, n, cfg.max_action_tokens)
    states = torch.randn(B, n, cfg.queries, cfg.state_width, requires_grad=True)
    t = torch.tensor([0, 1, 2, 3])
    b = torch.tensor([0, 1, 0, 1])
    hist_i = torch.where(t >= 2, (t - 1) * Fc, torch.zeros_like(t))
    history = latents[b, hist_i]
    drawn = loss.drawn_history(history, latents, b, t, text, mask, states)
    assert torch.equal(drawn[:2], history[:2])  # start-frame histories are what inference has too
    assert not torch.allclose(drawn[2:], history[2:]) and torch.isfinite(drawn).all()
    assert not drawn.requires_grad  # a drawing is an input, never a path for gradients
    loss.self_history = 0.0
    assert torch.equal(loss.drawn_history(history, latents, b, t, text, mask, states), history)


def _tiny_batch(cfg, B=2, n=4, seed=0):
    """A batch of tiny-config episodes with the simulator's labels, as model/latents.py shards hold them."""
    import numpy as np

    from model.latents import action_labels, object_labels
    from model.world import generate_episode, rollout
    frames, objects, lighting, actions = [], [], [], []
    for b in range(B):
        ep = generate_episode(100 + b + seed, n, frames_per_chunk=cfg.chunk_frames, size=cfg.image_size)
        f, states = rollout(ep)
        o, li = object_labels(states)
        frames.append(f), objects.append(o), lighting.append(li)
        actions.append(np.stack([action_labels(s["action"]) for s in ep["steps"]]))
    T = 1 + n * cfg.chunk_frames
    g = torch.Generator().manual_seed(seed)
    return {"frames": torch.from_numpy(np.stack(frames)),
            "latents": torch.randn(B, T, cfg.latent_channels, cfg.latent_size, cfg.latent_size, generator=g),
            "text": torch.randn(B, n, cfg.max_action_tokens, cfg.text_width, generator=g),
            "text_mask": torch.ones(B, n, cfg.max_action_tokens),
            "objects": torch.from_numpy(np.stack(objects)), "lighting": torch.from_numpy(np.stack(lighting)).long(),
            "actions": torch.from_numpy(np.stack(actions)).long()}


def test_readout_heads_train_the_backbone_and_burn_in_turns_get_no_gradient():
    from model.config import get_config
    from model.glp import GLP
    from model.losses import GLPLoss
    from model.train import cut_episodes
    cfg = get_config("tiny").model
    torch.manual_seed(0)
    model = GLP(cfg)
    b = _tiny_batch(cfg, n=6)
    plain = GLPLoss(model, 2, 10.0)
    heads = GLPLoss(model, 2, 10.0, state_readout=0.5, action_readout=0.5)
    assert not len(plain.heads) and set(heads.heads) == {"state", "action"}
    # the heads are the loss's, not the model's: nothing of them is exported
    assert not {id(p) for p in heads.heads.parameters()} & {id(p) for p in model.parameters()}
    loss, parts = heads(b["frames"], b["text"], b["text_mask"], b["latents"], b["objects"], b["lighting"],
                        b["actions"])
    assert parts["state"] > 0 and parts["action"] > 0 and parts["state_place"] > 0
    loss.backward()
    assert model.backbone.queries.grad.abs().sum() > 0
    assert all(p.grad is not None for p in heads.heads.parameters())
    # a short episode: the first 4 chunks of each, per-frame arrays cut to 1 + 4F frames
    short = cut_episodes(b, 4, cfg.chunk_frames)
    assert short["frames"].shape[1] == 1 + 4 * cfg.chunk_frames and short["actions"].shape[1] == 4
    # burn-in: the first turns only fill the cache; the encoder trains only through the turns after them
    from model.checkpoint import random_model
    model = random_model("tiny").train()  # every zero-initialised pathway open, so the state's gradient flows
    plain = GLPLoss(model, 2, 10.0)
    enc_grad = {}
    for burn_in in (0, 5):
        model.zero_grad()
        torch.manual_seed(1)
        loss, _ = plain(b["frames"], b["text"], b["text_mask"], b["latents"], burn_in=burn_in)
        loss.backward()
        assert torch.isfinite(loss) and model.decoder.out.weight.grad is not None
        enc_grad[burn_in] = model.encoder.patch.weight.grad.abs().sum()
    assert enc_grad[0] > 0 and enc_grad[5] > 0


def test_rollout_bank_draws_each_chunk_from_the_models_own_history():
    """model/rollouts.py: the chunks' last frames as the model drew them in a whole rollout; a decoder that
    draws no change keeps the start scene (its first history) through every chunk."""
    from model.config import get_config
    from model.glp import GLP
    from model.rollouts import draw_episodes
    cfg = get_config("tiny").model
    torch.manual_seed(0)
    model = GLP(cfg).eval()  # zero-initialised output: draws no change from the history frame
    b = _tiny_batch(cfg, n=5)
    drawn = draw_episodes(model, b["frames"], b["latents"], b["text"], b["text_mask"])
    assert drawn.shape == (2, 5, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    start = b["latents"][:, 0]
    for t in range(4):  # chunks 0..3 finished; the last is never finished and keeps the true frame
        assert torch.allclose(drawn[:, t], start, atol=1e-5)
    assert torch.equal(drawn[:, 4], b["latents"][:, 5 * cfg.chunk_frames])  # chunk 4 ends at frame 5F
