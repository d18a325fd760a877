"""Model and training configurations.

One `GLPConfig` describes every shape a bundle exposes; the exporter copies
these numbers into `manifest.json`, so the runtime never guesses them. The
registry at the bottom feeds the CLIs' `--config` choices.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class GLPConfig:
    name: str = "tabletop"

    # Video: square frames, one action per chunk of `chunk_frames` frames.
    image_size: int = 64
    fps: int = 8
    chunk_frames: int = 4

    # VAE: a per-frame 2D autoencoder, `2 ** vae_stages` times smaller per side.
    latent_channels: int = 8
    vae_stages: int = 3
    vae_width: int = 24
    # The decoder half: "mirror" (the encoder reversed) or "light" (stops at half resolution and
    # draws 2x2 pixels a cell; model/glp.py vae_decoder), trained on the frozen encoder's latents
    # by `python -m model.vae_decoder`.
    vae_decoder: str = "mirror"

    # Encoder h: frames of one chunk -> `state_tokens` tokens of `state_width`.
    state_tokens: int = 16
    state_width: int = 128
    encoder_patch: int = 16  # 16 tokens per 64x64 frame: the state is coarse, the decoder draws detail
    encoder_layers: int = 2
    encoder_heads: int = 4

    # Backbone f: a causal transformer over turns
    # [prev prediction (queries) | h(o) (state_tokens) | action (max_action_tokens) | queries].
    queries: int = 16
    backbone_layers: int = 4
    backbone_heads: int = 4
    max_turns: int = 10  # PAN keeps the 10 most recent rounds in its KV cache.

    # Action encoder: all-MiniLM-L6-v2 token states.
    text_width: int = 384
    max_action_tokens: int = 16

    # Decoder g over [history frame | earlier chunk | later chunk]: "dit", a
    # flow-matching transformer over patch_size x patch_size latent patches, or
    # "unet", a convolutional U-Net over each chunk's latents at their own grid
    # (model/glp.py ChunkUNet; decoder_layers = residual blocks per level,
    # decoder_width = the top level's channels).
    # The defaults are the shipped tabletop model's (a U-Net drawing the change, predicting the data);
    # DIT below is the retired transformer.
    decoder_kind: str = "unet"
    # What the flow runs on: "frame" (the latents) or "change" (latents minus the
    # history frame; the exported graph still takes and returns latents).
    flow_target: str = "change"
    # What the U-Net outputs: "velocity" (v = noise - data, as the flow) or "data" (the clean
    # target, turned into the flow's velocity inside the graph; its loss is weighted by sigma).
    decoder_predicts: str = "data"
    patch_size: int = 2
    decoder_width: int = 128
    decoder_layers: int = 2
    decoder_heads: int = 4
    # The U-Net's convolutions pull their inputs and outputs toward a grid of this many steps across
    # each one's calibrated range (model/glp.py ActivationGrid; 0: none). It keeps an idle page from
    # drifting: a drawing's small errors are pulled back instead of becoming the next chunk's history.
    decoder_grid_levels: int = 0
    denoise_steps: int = 8  # K: calls per chunk, K/2 as the later and K/2 as the earlier chunk.
    window_chunks: int = 2
    # Finished history given as context is noised to this sigma so the decoder
    # keeps its structure but learns not to copy brittle texture (PAN, Swin-DPM).
    conditioning_noise: float = 0.055
    # The newest finished chunk when chunk t is enqueued is t - 2: chunk t - 1
    # is still the earlier (half-denoised) window chunk.
    state_lag: int = 2

    @property
    def latent_size(self) -> int:
        return self.image_size // (2 ** self.vae_stages)

    @property
    def turn_tokens(self) -> int:
        return 2 * self.queries + self.state_tokens + self.max_action_tokens

    @property
    def cache_tokens(self) -> int:
        return self.max_turns * self.turn_tokens

    @property
    def window_frames(self) -> int:
        return 1 + self.window_chunks * self.chunk_frames

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_size // self.patch_size) ** 2

    def __post_init__(self):
        assert self.denoise_steps % 2 == 0, "K must be even: each window chunk takes K/2 calls"
        assert self.window_chunks == 2, "Causal Swin-DPM here is a window of two chunks"
        assert self.image_size % (2 ** self.vae_stages) == 0
        assert self.latent_size % self.patch_size == 0
        assert self.image_size % self.encoder_patch == 0
        assert self.state_width % self.backbone_heads == 0
        assert (self.state_width // self.backbone_heads) % 2 == 0, "RoPE needs an even head size"
        assert self.decoder_width % self.decoder_heads == 0
        assert self.decoder_kind in ("dit", "unet"), f"decoder_kind: 'dit' or 'unet', not {self.decoder_kind!r}"
        assert self.flow_target in ("frame", "change"), f"flow_target: 'frame' or 'change', not {self.flow_target!r}"
        assert self.decoder_predicts in ("velocity", "data"), "decoder_predicts: 'velocity' or 'data'"
        assert self.decoder_predicts == "velocity" or self.decoder_kind == "unet", "the DiT predicts velocity"
        if self.decoder_kind == "unet":
            assert self.decoder_width % 16 == 0, "U-Net widths (w, 3w/2) must split into 8 groups"
            assert self.latent_size % 2 == 0, "the U-Net halves the latent grid once"
        assert self.state_width % self.encoder_heads == 0
        assert self.vae_decoder in ("mirror", "light"), f"vae_decoder: 'mirror' or 'light', not {self.vae_decoder!r}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GLPConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class TrainConfig:
    # Stage 1: the autoencoder alone.
    ae_steps: int = 2500
    ae_batch: int = 32
    ae_lr: float = 1e-3
    # Stage 2: joint GLP training (encoder, backbone, queries, decoder).
    glp_steps: int = 2000  # about 2h10m on 2 CPU cores with stage 1 (the shipped model trained on past this)
    glp_batch: int = 8
    glp_lr: float = 4e-4
    episode_chunks: int = 6  # chunks per training sequence (turns unrolled)
    # Share of steps whose episodes are `long_chunks` long, their first long_chunks - episode_chunks turns
    # run without gradients to fill the backbone's cache: the last turns are then trained past max_turns,
    # with the start scene rolled out of the cache, as every turn of a session longer than that is.
    long_episodes: float = 0.0
    long_chunks: int = 16
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    # Flow-matching loss weight of latent cells that change from the history
    # frame (moving, appearing, recoloured objects) relative to static ones.
    # Objects are a tenth of a frame, so an unweighted loss is mostly table and
    # the decoder learns to copy the history frame long before it learns to
    # act (public/models/tabletop/README.md, Limitations, has the measured
    # effect); 1.0 is the plain loss.
    motion_weight: float = 10.0
    windows_per_episode: int = 2  # decoder windows drawn from each episode's unrolled turns per step
    # Share of windows whose history frame is the model's own drawing instead of the true frame
    # (model/train.py GLPLoss.drawn_history): trains the decoder on the history it meets at inference.
    self_history: float = 0.0
    # Share of windows whose history frame is the model's drawing of that chunk in a whole rollout of its
    # own (errors piled up over chunks, as the sampler makes them): model/rollouts.py banks them beside
    # the data shards, and training reads them where present.
    rollout_history: float = 0.0
    # Weights of the training-only heads' losses on the backbone's predicted state (model/train.py): the
    # objects the simulator knows (colour, shape, place, presence) and lighting; the structured action.
    state_readout: float = 0.0
    action_readout: float = 0.0
    ema_decay: float = 0.999
    log_every: int = 25
    checkpoint_every: int = 250
    seed: int = 0


@dataclass(frozen=True)
class RunConfig:
    model: GLPConfig = field(default_factory=GLPConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# The default tabletop model's shapes (configs "cpu" and "gpu"): a U-Net decoder over each
# chunk's latents, flowing on the change from the history frame.
TABLETOP = GLPConfig()
# The previous default decoder: a diffusion transformer on 2x2 latent patches, latents as the target.
DIT = GLPConfig(decoder_kind="dit", flow_target="frame", decoder_predicts="velocity", decoder_width=192,
                decoder_layers=6, decoder_heads=6)

# Registry of named configurations (the CLIs' --config choices).
CONFIGS: dict[str, RunConfig] = {
    # Tiny: random-init export tests, the soak test, CI. Seconds to train.
    "tiny": RunConfig(
        model=GLPConfig(
            name="tiny", image_size=32, latent_channels=4, vae_stages=2, vae_width=16,
            state_tokens=4, state_width=32, encoder_patch=8, encoder_layers=1, encoder_heads=2,
            queries=4, backbone_layers=1, backbone_heads=2, max_turns=4, max_action_tokens=8,
            decoder_kind="unet", flow_target="change", decoder_predicts="data", decoder_width=32, decoder_layers=2,
            decoder_heads=2,
            denoise_steps=4,
        ),
        train=TrainConfig(ae_steps=20, ae_batch=4, glp_steps=20, glp_batch=2, episode_chunks=4,
                          warmup_steps=5, log_every=5, checkpoint_every=10),
    ),
    # CPU: the default tabletop model on 2 cores. The decoder is a U-Net over each chunk's
    # latents flowing on the change from the history frame (the model card's ablation table
    # has the measurements behind each choice); stage 2 reads pre-encoded shards (--data).
    "cpu": RunConfig(
        model=TABLETOP,
        # EMA decay 0.995 (about 200 steps): 0.999 lags a 4,000-step run by a thousand steps, and the
        # probe of the EMA weights stalled while the raw weights went on improving.
        train=TrainConfig(glp_steps=4000, glp_batch=16, windows_per_episode=4, ema_decay=0.995),
    ),
    "cpu-dit": RunConfig(model=DIT, train=TrainConfig()),
    # GPU: same shapes as `cpu` so bundles are interchangeable, far more steps.
    "gpu": RunConfig(
        model=TABLETOP,
        train=TrainConfig(ae_steps=20000, ae_batch=64, glp_steps=60000, glp_batch=32,
                          episode_chunks=8, checkpoint_every=1000, log_every=50),
    ),
}


def get_config(name: str, **overrides) -> RunConfig:
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; choose one of {sorted(CONFIGS)}")
    run = CONFIGS[name]
    model_over = {k: v for k, v in overrides.items() if k in {f.name for f in fields(GLPConfig)}}
    train_over = {k: v for k, v in overrides.items() if k in {f.name for f in fields(TrainConfig)}}
    return RunConfig(model=replace(run.model, **model_over), train=replace(run.train, **train_over))


def parse_overrides(pairs: list[str]) -> dict:
    """`--set KEY=VALUE ...` -> {field: value} typed as the field's default (GLPConfig or TrainConfig)."""
    defaults = {**GLPConfig().to_dict(), **TrainConfig().__dict__}
    out = {}
    for kv in pairs:
        k, _, v = kv.partition("=")
        if k not in defaults:
            raise ValueError(f"--set {k}: no such config field; fields are {', '.join(sorted(defaults))}")
        kind = type(defaults[k])
        out[k] = (v.lower() in ("1", "true", "yes")) if kind is bool else kind(v)
    return out
