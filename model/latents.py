"""Pre-encoded training episodes: frames, VAE latents and action token states, in shards.

Stage 2 (GLP) needs, per episode, the frames (the encoder h reads pixels), the
VAE latents of every frame (the decoder's data) and the action encoder's token
states of every wording. Computing these in every step spends most of the step
on work whose result never changes: the VAE is frozen, and a wording's states
are always the same. So they are computed once per frame and once per wording,
written as shards of `EPISODES_PER_SHARD` episodes, and training draws batches
from the shards in a seeded order.

    python -m model.latents --vae runs/cpu/ckpt.pt --out runs/data --shards 8 --jobs 2

A shard is deterministic given its index (its episodes come from a seed stream
of their own), so the same folder can be rebuilt anywhere, and a run that
resumes on another machine draws the same batches. The folder's `index.json`
records what built it; shards with another VAE or shape are refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from model.config import GLPConfig
from model.world import generate_episode, is_heldout_scene, rollout

EPISODES_PER_SHARD = 250
SHARD_SEED = 7_000_000  # shard i's scenes come from default_rng([SHARD_SEED, i])


def vae_fingerprint(vae: torch.nn.Module) -> str:
    """What the shards' latents depend on: the encoder half and the latent scale (a new decoder,
    model/vae_decoder.py, reads the same latents)."""
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        if k.startswith("decoder."):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def shard_path(folder: Path, i: int) -> Path:
    return Path(folder) / f"shard-{i:04d}.npz"


@torch.no_grad()
def build_shard(i: int, folder: Path, cfg: GLPConfig, vae: torch.nn.Module, text_dir: Path, n_chunks: int,
                episodes: int = EPISODES_PER_SHARD) -> Path:
    """Write shard i: frames (E, T, H, W, 3) uint8, latents (E, T, C, h, w) float16,
    text (E, n, L, 384) float16, text_mask (E, n, L) uint8, scene seeds and wordings."""
    from model.text_encoder import load_action_encoder
    enc = load_action_encoder(str(text_dir), cfg.max_action_tokens)
    rng = np.random.default_rng([SHARD_SEED, i])
    frames, seeds, texts = [], [], []
    while len(frames) < episodes:
        seed = int(rng.integers(0, 2**31 - 1))
        if is_heldout_scene(seed):
            continue
        ep = generate_episode(seed, n_chunks, split="train", frames_per_chunk=cfg.chunk_frames, size=cfg.image_size)
        frames.append(rollout(ep)[0])
        seeds.append(seed)
        texts.append([s["text"] for s in ep["steps"]])
    frames = np.stack(frames)  # (E, T, H, W, 3)
    E, T = frames.shape[:2]
    px = torch.from_numpy(frames).reshape(E * T, *frames.shape[2:]).permute(0, 3, 1, 2).float() / 255.0
    lat = torch.cat([vae.encode(px[j:j + 256]) for j in range(0, len(px), 256)])
    lat = lat.reshape(E, T, *lat.shape[1:]).numpy().astype(np.float16)
    states = np.zeros((E, n_chunks, cfg.max_action_tokens, cfg.text_width), np.float16)
    masks = np.zeros((E, n_chunks, cfg.max_action_tokens), np.uint8)
    for e, row in enumerate(texts):
        s, m = enc.encode_batch(row)
        states[e], masks[e] = s, m
    path = shard_path(folder, i)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, frames=frames, latents=lat, text=states, text_mask=masks, seeds=np.array(seeds),
             texts=np.array(["\t".join(r) for r in texts]))
    tmp.replace(path)
    return path


class ShardedEpisodes:
    """Batches of episodes from the shards in `folder`, in a seeded order, resumable.

    Each epoch draws a permutation of the episodes of the shards present when
    it starts (more shards may appear while a run goes on: the next epoch takes
    them). `state_dict()` holds the epoch, its shard count and the position in
    it, so a resumed run draws exactly the batches the stopped one would have.
    """

    def __init__(self, folder: Path, batch: int, seed: int, n_chunks: int):
        self.folder, self.batch, self.seed, self.n_chunks = Path(folder), batch, seed, n_chunks
        self.epoch, self.pos, self.n_shards = 0, 0, None
        self._loaded: dict[int, dict] = {}
        self._order = None

    def available(self) -> int:
        n = 0
        while shard_path(self.folder, n).exists():
            n += 1
        return n

    def _shard(self, i: int) -> dict:
        if i not in self._loaded:
            with np.load(shard_path(self.folder, i)) as z:
                self._loaded[i] = {k: z[k] for k in ("frames", "latents", "text", "text_mask")}
            got = self._loaded[i]["text"].shape[1]
            if got < self.n_chunks:
                raise ValueError(f"{shard_path(self.folder, i)} has {got} chunks per episode; this run needs "
                                 f"{self.n_chunks}: rebuild the data folder")
        return self._loaded[i]

    def _start_epoch(self):
        if self.n_shards is None:
            self.n_shards = self.available()
        if self.n_shards == 0:
            raise FileNotFoundError(f"no shards in {self.folder}: build them with `python -m model.latents`")
        per = len(self._shard(0)["frames"])
        rng = np.random.default_rng([self.seed, self.epoch])
        self._order = rng.permutation(self.n_shards * per)
        self._per = per

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._order is None:
            self._start_epoch()
        if self.pos + self.batch > len(self._order):
            self.epoch, self.pos, self.n_shards = self.epoch + 1, 0, None
            self._start_epoch()
        idx = self._order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        n, F_ = self.n_chunks, None
        out = {"frames": [], "latents": [], "text": [], "text_mask": []}
        for j in idx:
            s = self._shard(int(j) // self._per)
            e = int(j) % self._per
            T = 1 + n * (s["frames"].shape[1] - 1) // s["text"].shape[1]  # frames of the first n chunks
            out["frames"].append(s["frames"][e, :T])
            out["latents"].append(s["latents"][e, :T])
            out["text"].append(s["text"][e, :n])
            out["text_mask"].append(s["text_mask"][e, :n])
        return {
            "frames": torch.from_numpy(np.stack(out["frames"])),
            "latents": torch.from_numpy(np.stack(out["latents"]).astype(np.float32)),
            "text": torch.from_numpy(np.stack(out["text"]).astype(np.float32)),
            "text_mask": torch.from_numpy(np.stack(out["text_mask"]).astype(np.float32)),
        }

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "n_shards": self.n_shards}

    def load_state_dict(self, d: dict):
        self.epoch, self.pos, self.n_shards = d["epoch"], d["pos"], d["n_shards"]
        self._order = None
        if self.n_shards is not None and self.available() < self.n_shards:
            raise FileNotFoundError(f"{self.folder} has {self.available()} shards; the run stopped in an epoch over "
                                    f"{self.n_shards}: rebuild them (`python -m model.latents`, same --vae)")
        self._start_epoch()


def check_folder(folder: Path, cfg: GLPConfig, fingerprint: str, n_chunks: int,
                 episodes_per_shard: int = EPISODES_PER_SHARD) -> None:
    """Write index.json on first use; refuse a folder built with another VAE or shapes."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    want = {"vae": fingerprint, "image_size": cfg.image_size, "chunk_frames": cfg.chunk_frames,
            "latent_channels": cfg.latent_channels, "max_action_tokens": cfg.max_action_tokens,
            "episode_chunks": n_chunks, "episodes_per_shard": episodes_per_shard}
    index = folder / "index.json"
    if index.exists():
        have = json.loads(index.read_text())
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v and k != "episode_chunks"}
        if have.get("episode_chunks", 0) < n_chunks:
            diff["episode_chunks"] = (have.get("episode_chunks"), n_chunks)
        if diff:
            raise ValueError(f"{folder} was built for other settings {diff} (have, want): use another folder")
    else:
        index.write_text(json.dumps(want, indent=1) + "\n")


def _worker(args):
    i, folder, cfg_dict, vae_path, text_dir, n_chunks = args
    torch.set_num_threads(1)
    from model.checkpoint import load_vae
    cfg = GLPConfig.from_dict(cfg_dict)
    vae = load_vae(vae_path, cfg)
    return str(build_shard(i, Path(folder), cfg, vae, Path(text_dir), n_chunks))


def main(argv=None):
    from concurrent.futures import ProcessPoolExecutor

    from model.checkpoint import load_vae
    from model.config import CONFIGS, get_config
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vae", type=Path, required=True,
                    help="a training checkpoint past stage 1, or a bundle folder (its vae graphs are read back)")
    ap.add_argument("--config", default="cpu", choices=sorted(CONFIGS), help="the config whose shapes the data must have")
    ap.add_argument("--out", type=Path, required=True, help="data folder")
    ap.add_argument("--shards", type=int, default=8, help=f"shards to have ({EPISODES_PER_SHARD} episodes each)")
    ap.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)), help="processes")
    ap.add_argument("--text-encoder", type=Path, default=Path("build/text-encoder"))
    args = ap.parse_args(argv)
    run = get_config(args.config)
    cfg, n = run.model, run.train.episode_chunks
    check_folder(args.out, cfg, vae_fingerprint(load_vae(args.vae, cfg)), n)
    todo = [i for i in range(args.shards) if not shard_path(args.out, i).exists()]
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as ex:
        jobs = [(i, str(args.out), cfg.to_dict(), str(args.vae), str(args.text_encoder), n) for i in todo]
        for _ in tqdm(ex.map(_worker, jobs), total=len(jobs), desc="shards"):
            pass
    print(f"{len(todo)} shard(s) built in {time.time() - t0:.0f}s; {args.out} holds {args.shards}")


if __name__ == "__main__":
    main()
