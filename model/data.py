"""Training data: tabletop episodes generated on the fly.

Each sample is one episode of `n_chunks` actions from a training scene (the
held-out scenes and wordings never appear): its frames, and the action
encoder's token states for each action's text. Generation is cheap (about
1 ms per frame) and runs in a DataLoader worker, so the data is effectively
infinite and no dataset file is needed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from model.config import GLPConfig
from model.text_encoder import load_action_encoder
from model.world import generate_episode, is_heldout_scene, rollout


class EpisodeStream(IterableDataset):
    def __init__(self, cfg: GLPConfig, text_encoder_dir: str, n_chunks: int, seed: int, split: str = "train",
                 rank: int = 0):
        super().__init__()
        self.cfg = cfg
        self.text_dir = str(text_encoder_dir)
        self.n_chunks = n_chunks
        self.seed = seed
        self.split = split
        self.rank = rank

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info else 0
        rng = np.random.default_rng([self.seed, self.rank, worker])
        enc = load_action_encoder(self.text_dir, self.cfg.max_action_tokens)
        while True:
            scene_seed = int(rng.integers(0, 2**31 - 1))
            if is_heldout_scene(scene_seed) != (self.split == "heldout"):
                continue
            ep = generate_episode(scene_seed, self.n_chunks, split=self.split,
                                  frames_per_chunk=self.cfg.chunk_frames, size=self.cfg.image_size)
            frames, _ = rollout(ep)  # (1 + n*F, H, W, 3) uint8
            texts = [s["text"] for s in ep["steps"]]
            states, masks = enc.encode_batch(texts)
            yield {
                "frames": torch.from_numpy(np.ascontiguousarray(frames)),
                "text": torch.from_numpy(states),       # (n, L, 384)
                "text_mask": torch.from_numpy(masks),   # (n, L)
            }


def to_float_frames(frames_u8: torch.Tensor) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float in [0, 1]."""
    return frames_u8.movedim(-1, -3).float() / 255.0
