"""Train a new VAE decoder on a finished model's frozen latent space.

    python -m model.vae_decoder --from model/weights/tabletop.pt --data runs/data --out runs/vae-light

The VAE decoder runs once for every frame shown, so its cost is paid in full at
inference (the mirror decoder costs more per frame than a denoising call). The
latents it reads are fixed by the encoder, which the rest of the model was
trained on; a decoder of another shape (`--kind`, model/glp.py `vae_decoder`)
can therefore be trained on its own, from the pre-encoded shards' (latents,
frames) pairs, and swapped in without touching the encoder, backbone or
denoiser. The reconstruction loss is the autoencoder's (model/train.py
`reconstruction_loss`); each evaluation compares the new decoder and the old
one on held-out scenes by PSNR against the true frames and by the detector
(every object read back with its colour and shape).

The output is a checkpoint like a training run's `glp.pt` (EMA weights, config
with the new `vae_decoder`, the source run's record plus this one's), ready
for `model.export` and `model.train --init-from`.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.checkpoint import load_checkpoint
from model.data import to_float_frames
from model.glp import GLP
from model.latents import ShardedEpisodes
from model.losses import reconstruction_loss
from model.machine import measure_peak
from model.optim import ema_update, lr_at


def heldout_frames(n: int, size: int, seed: int = 5) -> np.ndarray:
    """(n, H, W, 3) uint8 frames of held-out scenes, with moves, lighting and recolours in them."""
    from model.world import generate_episode, rollout, scene_seeds
    rng = np.random.default_rng(seed)
    frames = []
    for s in scene_seeds("heldout", n, start=50_000):
        video = rollout(generate_episode(int(s), 2, size=size))[0]
        frames.append(video[int(rng.integers(len(video)))])
        if len(frames) == n:
            break
    return np.stack(frames)


@torch.no_grad()
def judge_decoder(vae, frames_u8: np.ndarray) -> dict:
    """PSNR against the true frames and the share of frames the detector reads exactly as it reads the truth."""
    from model.eval.judge import consistency
    from model.sampler import frames_to_uint8
    from model.world import detect
    x = to_float_frames(torch.from_numpy(frames_u8))  # (N, 3, H, W)
    rec = frames_to_uint8(vae.decode(vae.encode(x)).numpy())
    mse = np.mean((rec.astype(np.float64) - frames_u8.astype(np.float64)) ** 2, axis=(1, 2, 3))
    psnr = float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))))
    read = [consistency(detect(r), detect(g)) for r, g in zip(rec, frames_u8)]
    return {"psnr": psnr, "detector_same": float(np.mean([c == 1.0 for c in read])), "frames": len(frames_u8)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="source", type=Path, required=True,
                    help="a finished run's checkpoint or kept weights (its encoder stays as it is)")
    ap.add_argument("--data", type=Path, required=True, help="pre-encoded shards made with this encoder (model.latents)")
    ap.add_argument("--out", type=Path, required=True, help="run folder: log.jsonl, glp.pt")
    ap.add_argument("--kind", default="light", choices=["light", "mirror"], help="the decoder's shape")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64, help="frames per step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--latent-noise", type=float, default=0.1,
                    help="std of noise added to the latents in training (the denoiser's latents are never exact)")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-frames", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    source, meta = load_checkpoint(args.source)
    cfg = replace(source.cfg, vae_decoder=args.kind)
    model = GLP(cfg)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("vae.decoder.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("vae.decoder.") for k in missing), (missing, unexpected)
    vae = model.vae
    vae.encoder.requires_grad_(False)
    ema = copy.deepcopy(vae.decoder).requires_grad_(False)
    params = list(vae.decoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    data = ShardedEpisodes(args.data, batch=max(1, args.batch // 8), seed=11, n_chunks=1)

    held = heldout_frames(args.eval_frames, cfg.image_size)
    before = judge_decoder(source.vae, held)
    print(f"source decoder ({source.cfg.vae_decoder}) on {len(held)} held-out frames: PSNR {before['psnr']:.2f} dB, "
          f"detector reads {before['detector_same']:.1%} exactly")
    record = {"kind": args.kind, "from": str(args.source), "steps": 0, "seconds": 0.0, "frames": 0,
              "command": " ".join(["python -m model.vae_decoder"] + list(sys.argv[1:] if argv is None else argv)),
              "source_decoder": before, "machine_peak": measure_peak(torch.device("cpu"))}
    log = open(args.out / "log.jsonl", "a")
    bar = tqdm(range(args.steps), desc=f"vae decoder ({args.kind})", dynamic_ncols=True)
    t_last = time.time()
    for step in bar:
        b = next(data)
        frames = to_float_frames(b["frames"]).flatten(0, 1)  # (B*T, 3, H, W)
        latents = b["latents"].flatten(0, 1)
        idx = torch.randperm(frames.shape[0])[: args.batch]
        frames, latents = frames[idx], latents[idx]
        latents = latents + args.latent_noise * torch.randn_like(latents) * (torch.rand(len(idx), 1, 1, 1) < 0.5)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, min(200, args.steps // 10))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            recon = (vae.decoder(latents / vae.latent_scale) + 1.0) * 0.5
        loss, parts = reconstruction_loss(recon.float(), frames)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_update(ema, vae.decoder, 0.999 if step > 200 else 0.0)
        now = time.time()
        record["seconds"] += now - t_last
        t_last = now
        record["steps"], record["frames"] = step + 1, record["frames"] + len(idx)
        bar.set_postfix(loss=f"{loss.item():.4f}")
        row = {"step": step + 1, "loss": loss.item(), **{k: float(v) for k, v in parts.items()}}
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            trained = vae.decoder.state_dict()
            vae.decoder.load_state_dict(ema.state_dict())
            row["heldout"] = judge_decoder(vae.eval(), held)
            vae.decoder.load_state_dict(trained)
            vae.train()
            tqdm.write(f"step {step + 1}: held-out PSNR {row['heldout']['psnr']:.2f} dB "
                       f"(source {before['psnr']:.2f}), detector exact {row['heldout']['detector_same']:.1%} "
                       f"(source {before['detector_same']:.1%})")
            t_last = time.time()
        log.write(json.dumps(row) + "\n")
        log.flush()
    vae.decoder.load_state_dict(ema.state_dict())
    record["heldout"] = judge_decoder(vae.eval(), held)
    meta = dict(meta)
    meta["vae_decoder"] = record
    meta.setdefault("stages", {})
    out = args.out / "glp.pt"
    state = model.state_dict()
    torch.save({"config": cfg.to_dict(), "stage": "done", "step": meta.get("stages", {}).get("glp", {}).get("steps"),
                "meta": meta, "model": state, "ema": state}, out)
    print(f"wrote {out}: {args.kind} decoder, held-out PSNR {record['heldout']['psnr']:.2f} dB "
          f"(source {before['psnr']:.2f}), {record['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
