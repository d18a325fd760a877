"""
Long-horizon forecast: roll the world model out on an episode's action texts
from its ground-truth start frame and compare, chunk by chunk, with the
simulator's rollout (generated chunk t <-> ground-truth frames 1 + t*F ..
(t+1)*F).

Per chunk (step) t:
- PSNR: 10 log10(255^2 / MSE) over the chunk's F frames (uint8 RGB), capped at
  MAX_PSNR so identical chunks give a finite number.
- SSIM: skimage's structural_similarity (RGB, channel_axis, data_range 255),
  averaged over the chunk's frames.
- Consistency: `judge.consistency` between the detector's readings of the
  chunk's last frame, generated and ground truth. The episode score weights
  step t by t + 1, so keeping the scene late counts more than early.
- Identity: `judge.identity` on the same readings (colour and shape kept,
  wherever the objects are; extra blobs count against), weighted the same
  way: drift alone, with placement set aside.

Smoothness, from dense optical flow (Farneback) between consecutive frames of
the whole video (start frame included), on grayscale upscaled to FLOW_SIZE px
so the numbers do not depend on the bundle's frame size; units are pixels per
frame at FLOW_SIZE:
- speed_i = mean |flow_i| over pixels (flow_i: frame i -> i + 1),
- accel_i = mean |flow_{i+1} - flow_i| over pixels,
- smoothness_paper = exp(-mean accel) (PAN paper: inverse exponential of the
  acceleration magnitude; 1 is perfectly smooth, and a still video scores 1),
- smoothness_released = median speed * exp(-median accel) (PAN's released
  code; rewards motion as well as smoothness, 0 for a still video).
Both are also given on chunk boundaries only (flow pairs that cross from one
chunk into the next, and accelerations that involve such a pair) and within
chunks only. Episode values are averaged over episodes.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity
from tqdm import tqdm

from model.eval.judge import consistency, identity
from model.eval.samplers import MakeSampler, chunk_frames_uint8
from model.world import detect, random_scene, render

MAX_PSNR = 100.0
FLOW_SIZE = 128
# Farneback settings (OpenCV's usual ones): pyramid scale, levels, window, iterations, poly_n, poly_sigma
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def rollout_frames(make: MakeSampler, episode: dict, seed: int) -> np.ndarray:
    """(1 + n * F, H, W, 3) uint8: the start frame, then every generated frame."""
    start = render(random_scene(episode["scene_seed"], episode["n_objects"]), episode["size"])
    s = make(seed).start(start)
    for step in episode["steps"]:
        s.act(step["text"])
    chunks = s.run_chunks(len(episode["steps"]))
    return np.concatenate([start[None]] + [chunk_frames_uint8(c) for c in chunks])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return MAX_PSNR if mse == 0 else min(MAX_PSNR, 10.0 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


def step_scores(pred: np.ndarray, gt: np.ndarray, F: int, gt_readings: list[dict] | None = None) -> dict:
    """Per-chunk PSNR, SSIM, consistency and identity; pred and gt (1 + n*F, H, W, 3) uint8."""
    n = (len(gt) - 1) // F
    out = {"psnr": [], "ssim": [], "consistency": [], "identity": []}
    for t in range(n):
        sl = slice(1 + t * F, 1 + (t + 1) * F)
        out["psnr"].append(psnr(pred[sl], gt[sl]))
        out["ssim"].append(float(np.mean([ssim(p, g) for p, g in zip(pred[sl], gt[sl])])))
        gt_reading = gt_readings[t] if gt_readings is not None else detect(gt[sl][-1])
        reading = detect(pred[sl][-1])
        out["consistency"].append(consistency(reading, gt_reading))
        out["identity"].append(identity(reading, gt_reading))
    return out


def weighted_by_step(curve) -> float:
    """Mean of a per-step curve with step t weighted by t + 1 (later steps count more)."""
    w = np.arange(1, len(curve) + 1, dtype=np.float64)
    return float(np.sum(w * np.asarray(curve)) / np.sum(w))


def _gray(frame: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if g.shape[0] != FLOW_SIZE:
        g = cv2.resize(g, (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_LINEAR)
    return g


def flow_series(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(speed (N-1,), accel (N-2,)) for N frames, in pixels per frame at FLOW_SIZE."""
    grays = [_gray(f) for f in frames]
    flows = [cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK) for a, b in zip(grays[:-1], grays[1:])]
    speed = np.array([np.linalg.norm(f, axis=-1).mean() for f in flows])
    accel = np.array([np.linalg.norm(b - a, axis=-1).mean() for a, b in zip(flows[:-1], flows[1:])])
    return speed, accel


def boundary_masks(n_frames: int, F: int) -> tuple[np.ndarray, np.ndarray]:
    """
    Which flow pairs and which accelerations touch a chunk boundary. Frame 0 is
    the start frame and chunk t holds frames 1 + t*F .. (t+1)*F, so the pair
    (g, g + 1) crosses into a new chunk when g % F == 0.
    """
    g = np.arange(n_frames - 1)
    pair = g % F == 0  # (N-1,)
    acc = pair[:-1] | pair[1:]  # (N-2,) accel g uses pairs g and g + 1
    return pair, acc


def smoothness(speed: np.ndarray, accel: np.ndarray, F: int) -> dict:
    """The two named smoothness scores over all, boundary-only and within-chunk transitions."""
    pair, acc = boundary_masks(len(speed) + 1, F)
    out = {}
    for part, (ps, pa) in {"all": (np.ones_like(pair), np.ones_like(acc)), "boundary": (pair, acc),
                           "within": (~pair, ~acc)}.items():
        s, a = speed[ps], accel[pa]
        if len(s) == 0 or len(a) == 0:
            continue
        out[part] = {
            "smoothness_paper": float(np.exp(-a.mean())),
            "smoothness_released": float(np.median(s) * np.exp(-np.median(a))),
            "mean_speed": float(s.mean()), "mean_accel": float(a.mean()),
        }
    return out


def _average(dicts: list[dict]) -> dict:
    """Mean of nested dicts of numbers with the same keys (keys missing in some are averaged over the rest)."""
    out = {}
    for k in {k for d in dicts for k in d}:
        vals = [d[k] for d in dicts if k in d]
        out[k] = _average(vals) if isinstance(vals[0], dict) else float(np.mean(vals))
    return out


def curve_mean(curves: list[list[float]]) -> list[float]:
    """Mean over episodes at each step (episodes may be of different lengths)."""
    n = max((len(c) for c in curves), default=0)
    return [float(np.mean([c[t] for c in curves if len(c) > t])) for t in range(n)]


def evaluate_forecast(rollouts: dict[str, list[np.ndarray]], gt: list[np.ndarray], F: int,
                      flow: tuple[str, ...] = ()) -> dict:
    """
    rollouts: name -> per-episode predicted videos; gt: per-episode ground truth.
    Names in `flow` also get smoothness (ground truth always does).
    -> name -> {psnr, ssim, consistency and identity (weighted), their _mean, *_curve, smoothness}
    """
    gt_readings = [[detect(v[(t + 1) * F]) for t in range((len(v) - 1) // F)] for v in gt]
    out = {}
    for name, videos in rollouts.items():
        per = [step_scores(p, g, F, r) for p, g, r in zip(tqdm(videos, desc=f"scores {name}", leave=False), gt,
                                                           gt_readings)]
        res = {}
        for key in ("psnr", "ssim", "consistency", "identity"):
            curve = curve_mean([p[key] for p in per])
            res[f"{key}_curve"] = curve
            res[key] = float(np.mean([x for p in per for x in p[key]]))
        for key in ("consistency", "identity"):
            res[f"{key}_mean"] = res[key]
            res[key] = weighted_by_step(res[f"{key}_curve"])
        if name in flow:
            res.update(flow_summary(videos, F, desc=f"flow {name}"))
        out[name] = res
    out["ground_truth"] = flow_summary(gt, F, desc="flow ground truth")
    return out


def flow_summary(videos: list[np.ndarray], F: int, desc: str = "flow") -> dict:
    """{"smoothness": averaged over episodes, "speed_curve", "accel_curve": per frame, averaged}."""
    series = [flow_series(v) for v in tqdm(videos, desc=desc, leave=False)]
    return {
        "smoothness": _average([smoothness(s, a, F) for s, a in series]),
        "speed_curve": curve_mean([s.tolist() for s, _ in series]),
        "accel_curve": curve_mean([a.tolist() for _, a in series]),
    }
