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
from model.world import COLOURS, LIGHTING_LEVELS, PLACES, SHAPES, generate_episode, is_heldout_scene, rollout
from model.world.actions import ACTION_TYPES, DIRECTIONS, DISTANCES, SIDES

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


# What the simulator knows, kept beside the frames for the training-only heads (model/train.py):
# per frame, each of the six colours' object (colours are unique on a table) as [present, shape, x, y],
# and the lighting level; per step, the structured action as class indices (-1 where a field does not
# apply), in ACTION_FIELDS order.
ACTION_FIELDS = {
    "type": ACTION_TYPES, "object": COLOURS, "target": COLOURS, "colour": COLOURS, "shape": SHAPES,
    "direction": tuple(DIRECTIONS), "distance": tuple(DISTANCES), "place": tuple(PLACES), "side": tuple(SIDES),
    "level": LIGHTING_LEVELS,
}


def object_labels(states) -> tuple[np.ndarray, np.ndarray]:
    """World states -> objects (T, 6, 4) float32 [present, shape index, x, y] by colour, lighting (T,) int8."""
    objects = np.zeros((len(states), len(COLOURS), 4), np.float32)
    for t, st in enumerate(states):
        for o in st.objects:
            objects[t, COLOURS.index(o.colour)] = (1.0, SHAPES.index(o.shape), o.x, o.y)
    lighting = np.array([LIGHTING_LEVELS.index(st.lighting) for st in states], np.int8)
    return objects, lighting


def action_labels(action: dict) -> np.ndarray:
    """A structured action -> (len(ACTION_FIELDS),) int8 class indices, -1 where a field does not apply."""
    out = np.full(len(ACTION_FIELDS), -1, np.int8)
    for i, (field, values) in enumerate(ACTION_FIELDS.items()):
        v = action.get(field)
        if v is not None:
            out[i] = list(values).index(v)
    return out


def shard_path(folder: Path, i: int) -> Path:
    return Path(folder) / f"shard-{i:04d}.npz"


@torch.no_grad()
def build_shard(i: int, folder: Path, cfg: GLPConfig, vae: torch.nn.Module, text_dir: Path, n_chunks: int,
                episodes: int = EPISODES_PER_SHARD) -> Path:
    """Write shard i: frames (E, T, H, W, 3) uint8, latents (E, T, C, h, w) float16,
    text (E, n, L, 384) float16, text_mask (E, n, L) uint8, scene seeds and wordings, and the
    simulator's labels: objects (E, T, 6, 4) float16, lighting (E, T) int8, actions (E, n, fields) int8."""
    from model.text_encoder import load_action_encoder
    enc = load_action_encoder(str(text_dir), cfg.max_action_tokens)
    rng = np.random.default_rng([SHARD_SEED, i])
    frames, seeds, texts, objects, lighting, actions = [], [], [], [], [], []
    while len(frames) < episodes:
        seed = int(rng.integers(0, 2**31 - 1))
        if is_heldout_scene(seed):
            continue
        ep = generate_episode(seed, n_chunks, split="train", frames_per_chunk=cfg.chunk_frames, size=cfg.image_size)
        f, states = rollout(ep)
        frames.append(f)
        seeds.append(seed)
        texts.append([s["text"] for s in ep["steps"]])
        o, li = object_labels(states)
        objects.append(o)
        lighting.append(li)
        actions.append(np.stack([action_labels(s["action"]) for s in ep["steps"]]))
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
             texts=np.array(["\t".join(r) for r in texts]), objects=np.stack(objects).astype(np.float16),
             lighting=np.stack(lighting), actions=np.stack(actions))
    tmp.replace(path)
    return path


LABELS = ("objects", "lighting", "actions")


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
                self._loaded[i] = {k: z[k] for k in ("frames", "latents", "text", "text_mask", *LABELS) if k in z}
            bank = self.folder / f"rollout-{i:04d}.npz"  # model/rollouts.py
            if bank.exists():
                with np.load(bank) as z:
                    self._loaded[i]["drawn"] = z["drawn"]
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
        out = {k: [] for k in ("frames", "latents", "text", "text_mask", "drawn", *LABELS)}
        has_drawn = 0
        for j in idx:
            s = self._shard(int(j) // self._per)
            e = int(j) % self._per
            T = 1 + n * (s["frames"].shape[1] - 1) // s["text"].shape[1]  # frames of the first n chunks
            for k in ("frames", "latents", "objects", "lighting"):
                if k in s:
                    out[k].append(s[k][e, :T])
            for k in ("text", "text_mask", "actions"):
                if k in s:
                    out[k].append(s[k][e, :n])
            # the chunks' last frames as the model drew them in its own rollout, else the true ones
            fc = (s["frames"].shape[1] - 1) // s["text"].shape[1]
            out["drawn"].append(s["drawn"][e, :n] if "drawn" in s else s["latents"][e, fc::fc][:n])
            has_drawn += "drawn" in s
        batch = {
            "frames": torch.from_numpy(np.stack(out["frames"])),
            "latents": torch.from_numpy(np.stack(out["latents"]).astype(np.float32)),
            "text": torch.from_numpy(np.stack(out["text"]).astype(np.float32)),
            "text_mask": torch.from_numpy(np.stack(out["text_mask"]).astype(np.float32)),
        }
        if len(out["objects"]) == len(idx):  # shards built before the labels existed have none
            batch["objects"] = torch.from_numpy(np.stack(out["objects"]).astype(np.float32))
            batch["lighting"] = torch.from_numpy(np.stack(out["lighting"]).astype(np.int64))
            batch["actions"] = torch.from_numpy(np.stack(out["actions"]).astype(np.int64))
        if has_drawn:
            batch["drawn"] = torch.from_numpy(np.stack(out["drawn"]).astype(np.float32))
        return batch

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
    ap.add_argument("--chunks", type=int, help="chunks per episode (default: the config's episode_chunks); a run "
                                               "reads the first episode_chunks of longer episodes")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, as model.train's")
    args = ap.parse_args(argv)
    from model.config import parse_overrides
    run = get_config(args.config, **parse_overrides(args.set))
    cfg, n = run.model, args.chunks or run.train.episode_chunks
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
