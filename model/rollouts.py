"""The model's own rollouts of the training episodes, banked beside the data shards.

    python -m model.rollouts --checkpoint model/weights/tabletop.pt --data runs/data2 --shards 8

In use, the decoder's history frame is its own drawing of the chunk two back,
made from a history that was itself drawn, and so on: small errors pile up
over chunks, and a decoder that never saw such a history keeps them as scene
(an idle page melts in a minute). Training on one-step drawings does not show
it what piled-up errors look like. This module rolls the model out over each
training episode with the sampler's own schedule (Causal Swin-DPM, K steps a
chunk, the window of two chunks, the history noised to the conditioning
level) and keeps the last latent frame of every chunk it drew; training
(`rollout_history`) then gives a share of its windows that drawn frame as
history, with the true chunk as the target, so the decoder learns to draw the
scene back from a flawed history instead of keeping the flaws.

The backbone reads the true frames (as in training): the history loop is what
drifts (model/probe.py `idle_drift`), and leaving the VAE decoder out keeps a
shard's rollouts to minutes. `rollout-NNNN.npz` holds `drawn` (E, n, C, h, w)
float16 and the weights it was drawn with; rebuild them when the model has
moved on (a bank of a much weaker model teaches errors the model no longer
makes).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.data import to_float_frames


def rollout_path(folder: Path, i: int) -> Path:
    return Path(folder) / f"rollout-{i:04d}.npz"


@torch.no_grad()
def draw_episodes(model, frames_u8, latents, text, text_mask, seed: int = 0) -> torch.Tensor:
    """Roll the model out over a batch of episodes; -> the last latent frame of each chunk as drawn,
    (B, n, C, h, w). The last chunk is never finished (no phase after it): its slot holds the true frame."""
    cfg = model.cfg
    Fc, K = cfg.chunk_frames, cfg.denoise_steps
    frames = to_float_frames(frames_u8)
    B, T = frames.shape[:2]
    n = (T - 1) // Fc
    g = torch.Generator().manual_seed(seed)
    chunks = frames[:, 1:].reshape(B, n, Fc, *frames.shape[2:])
    start = frames[:, 0:1].expand(B, Fc, *frames.shape[2:])
    # The backbone's turns, on the true frames (state lag 2, as in training and the runtime).
    kv, kv_mask = model.backbone.empty_cache(B)
    prev = torch.zeros(B, cfg.queries, cfg.state_width)
    states = []
    for t in range(n):
        obs = model.encoder(chunks[:, t - 2] if t >= 2 else start)
        first = torch.full((B,), 1.0 if t == 0 else 0.0)
        prev, kv, kv_mask = model.backbone(prev, first, obs, text[:, t], text_mask[:, t], kv, kv_mask)
        states.append(prev)
    drawn = latents[:, Fc::Fc][:, :n].clone()  # true last frames; replaced as chunks finish
    history = latents[:, 0:1].expand(B, Fc, *latents.shape[2:])  # the start scene, as the sampler has it
    shape = (B, Fc, *latents.shape[2:])
    earlier, later = None, None
    hs = torch.full((B,), cfg.conditioning_noise)
    for p in range(n):  # phase p enqueues chunk p and finishes chunk p - 1
        later = torch.randn(shape, generator=g)
        e_idx = p - 1 if earlier is not None else p
        text2 = torch.stack([text[:, e_idx], text[:, p]], 1)
        mask2 = torch.stack([text_mask[:, e_idx], text_mask[:, p]], 1)
        state2 = torch.stack([states[e_idx], states[p]], 1)
        h_noise = torch.randn(shape[0], *shape[2:], generator=g)
        present = torch.full((B,), 1.0 if earlier is not None else 0.0)
        e = earlier if earlier is not None else torch.zeros(shape)
        for step in range(K // 2):
            se = (0.5 - step / K) if earlier is not None else 0.0
            se_next = (0.5 - (step + 1) / K) if earlier is not None else 0.0
            sigma = torch.tensor([[se, 1.0 - step / K]]).expand(B, 2)
            sigma_next = torch.tensor([[se_next, 1.0 - (step + 1) / K]]).expand(B, 2)
            e, later = model.denoise_call(history, h_noise, hs, e, later, sigma, sigma_next, present, text2, mask2,
                                          state2)
        if earlier is not None:  # chunk p - 1 is clean: it becomes the history
            drawn[:, p - 1] = e[:, -1]
            history = e
        earlier = later
    return drawn


def build_rollouts(model, data: Path, i: int, batch: int = 50, source: str = "") -> Path:
    from model.latents import shard_path
    with np.load(shard_path(data, i)) as z:
        frames, latents = z["frames"], z["latents"]
        text, mask = z["text"], z["text_mask"]
    out = []
    for j in range(0, len(frames), batch):
        out.append(draw_episodes(model, torch.from_numpy(frames[j:j + batch]),
                                 torch.from_numpy(latents[j:j + batch].astype(np.float32)),
                                 torch.from_numpy(text[j:j + batch].astype(np.float32)),
                                 torch.from_numpy(mask[j:j + batch].astype(np.float32)), seed=i * 1000 + j).numpy())
    path = rollout_path(data, i)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, drawn=np.concatenate(out).astype(np.float16), source=np.array(source))
    tmp.replace(path)
    return path


def main(argv=None):
    from model.checkpoint import load_checkpoint
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="the weights to roll out (EMA of a run)")
    ap.add_argument("--data", type=Path, required=True, help="the data folder (model/latents.py shards)")
    ap.add_argument("--shards", type=int, default=8, help="bank the first N shards")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rebuild", action="store_true", help="draw again where a bank exists")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import json
    tokens = json.loads((args.data / "index.json").read_text())["max_action_tokens"]
    model, meta = load_checkpoint(args.checkpoint, max_action_tokens=tokens)
    todo = [i for i in range(args.shards) if args.rebuild or not rollout_path(args.data, i).exists()]
    t0 = time.time()
    for i in tqdm(todo, desc="rollouts"):
        build_rollouts(model, args.data, i, source=f"{args.checkpoint} (step {meta.get('stages', {}).get('glp', {}).get('steps', '?')})")
    print(f"{len(todo)} shard(s) rolled out in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
