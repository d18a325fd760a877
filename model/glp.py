"""The Generative Latent Prediction (GLP) model, top to bottom.

    frames --VAE--> latents                       (per frame, 2D)
    frames --encoder h--> state tokens            (one chunk -> state_tokens)
    turn [s_t, h(o)] [action] [queries] --backbone f--> s_{t+1}   (KV cache across turns)
    window [history | earlier | later] --decoder g (flow matching)--> velocity

Every module is written so that `torch.onnx.export` gives a static-shape graph
that ONNX Runtime Web runs on WebGPU: attention is spelled out (MatMul,
Softmax), masks are additive biases of -1e4 rather than -inf (an fp16 graph
must not see inf * 0), and nothing depends on data-dependent shapes.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.config import GLPConfig

NEG = -1e4  # additive mask value: exp(-1e4) is 0 in fp32 and fp16 alike


# ---------------------------------------------------------------------------
# Shared pieces

def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """q (B, nh, Tq, hs), k/v (B, nh, Tk, hs), bias broadcastable to (B, nh, Tq, Tk)."""
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if bias is not None:
        att = att + bias
    return F.softmax(att, dim=-1) @ v


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, nh, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hs)


class MLP(nn.Module):
    def __init__(self, width: int, mult: int = 4):
        super().__init__()
        self.fc = nn.Linear(width, mult * width)
        self.proj = nn.Linear(mult * width, width)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x), approximate="tanh"))


class SelfAttention(nn.Module):
    def __init__(self, width: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, bias=None):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        y = attention(split_heads(q, self.n_head), split_heads(k, self.n_head), split_heads(v, self.n_head), bias)
        return self.proj(merge_heads(y))


class CrossAttention(nn.Module):
    def __init__(self, width: int, n_head: int, context_width: int | None = None, zero_out: bool = False):
        super().__init__()
        self.n_head = n_head
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(context_width or width, 2 * width)
        self.proj = nn.Linear(width, width)
        if zero_out:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x, context, bias=None):
        k, v = self.kv(context).chunk(2, dim=-1)
        y = attention(split_heads(self.q(x), self.n_head), split_heads(k, self.n_head), split_heads(v, self.n_head), bias)
        return self.proj(merge_heads(y))


class Block(nn.Module):
    """Pre-LN transformer block (bidirectional or with a given bias)."""

    def __init__(self, width: int, n_head: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, n_head)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(self, x, bias=None):
        x = x + self.attn(self.ln1(x), bias)
        return x + self.mlp(self.ln2(x))


# ---------------------------------------------------------------------------
# VAE: per-frame 2D autoencoder. Latents are scaled to unit variance (the
# `latent_scale` buffer is measured after stage-1 training) so that flow
# matching between data and N(0, 1) noise is well posed.

class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Upsample2x(nn.Module):
    """Nearest-neighbour 2x upsampling as Expand + Reshape: the ONNX Resize op's
    scale constants do not survive fp16 conversion when shared between nodes."""

    def forward(self, x):
        B, C, H, W = x.shape
        return x[:, :, :, None, :, None].expand(B, C, H, 2, W, 2).reshape(B, C, 2 * H, 2 * W)


class PixelShuffle2x(nn.Module):
    """(N, 4C, H, W) -> (N, C, 2H, 2W), each cell's channels laid out as its 2x2 pixels (as
    nn.PixelShuffle(2)), spelled as Reshape + Transpose so every ONNX runtime takes it."""

    def forward(self, x):
        N, C4, H, W = x.shape
        C = C4 // 4
        return x.reshape(N, C, 2, 2, H, W).permute(0, 1, 4, 2, 5, 3).reshape(N, C, 2 * H, 2 * W)


class ActivationGrid(nn.Module):
    """Pulls each value toward the nearest multiple of a step: y = x - (s / 2 pi) sin(2 pi x / s).

    Flat at every multiple of s, so a value a little off the grid lands nearly on it: placed at the
    decoder's convolutions (`GriddedConv2d`), it keeps a drawing's small errors from being carried into
    the next chunk's history and built on, chunk after chunk (the idle page's drift). Unlike rounding it
    is continuous, so every backend computes the same function within float error (a rounded value
    would flip a whole step where backends differ in the last bit). The step comes from the activations'
    calibrated range (`model.quantize.calibrate_grid`); uncalibrated (w = c = 0) it passes x through.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.zeros(()))  # 2 pi / step
        self.register_buffer("c", torch.zeros(()))  # step / 2 pi
        self.observed: list[float] | None = None  # [min, max] seen while calibrating

    @property
    def step(self) -> float:
        return float(2 * math.pi * self.c)

    def set_step(self, step: float) -> None:
        self.w.fill_(2 * math.pi / step if step > 0 else 0.0)
        self.c.fill_(step / (2 * math.pi))

    def forward(self, x):
        if self.observed is not None:
            self.observed = [min(self.observed[0], float(x.min())), max(self.observed[1], float(x.max()))]
        return x - self.c * torch.sin(self.w * x)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for k in ("w", "c"):  # a checkpoint from before the grid: uncalibrated
            state_dict.setdefault(prefix + k, torch.zeros(()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class GriddedConv2d(nn.Conv2d):
    """A convolution whose input and output are pulled toward their grids (`ActivationGrid`); its
    parameters are an nn.Conv2d's, under the same names."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grid_in = ActivationGrid()
        self.grid_out = ActivationGrid()

    def forward(self, x):
        return self.grid_out(super().forward(self.grid_in(x)))


class UpsampleConv2x(nn.Module):
    """`Upsample2x` then a 3x3 convolution (stride 1, padding 1), computed without the upsampling.

    Each output pixel of phase (a, b) (its row's and column's parity) sees only a 2x2 window of the
    input: the 3x3 kernel's rows (and columns) that land on the same input row add up, so the pair is
    exactly four 2x2 convolutions on the small input (zero-padded on the phase's side), interleaved.
    16 multiply-adds a weight per input pixel instead of 36, and no full-size copy of the input
    (the upsampling's Expand). Built from a trained pair by `fold_upsampling` when a graph is exported.
    """

    # Which input row (of the two a phase reads) each of the kernel's three rows lands on.
    PHASE_ROWS = ((0, 1, 1), (0, 0, 1))

    @classmethod
    def phase_rows(cls, dtype=torch.float32) -> torch.Tensor:
        """(phase, tap, kernel row): 1 where a kernel row lands on a phase's input row (PHASE_ROWS)."""
        rows = torch.zeros(2, 2, 3, dtype=dtype)
        for a, taps in enumerate(cls.PHASE_ROWS):
            for u, t in enumerate(taps):
                rows[a, t, u] = 1.0
        return rows

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        w = conv.weight.detach()  # (O, I, 3, 3)
        rows = self.phase_rows(w.dtype)
        for a in range(2):
            for b in range(2):
                self.register_buffer(f"w{a}{b}", torch.einsum("pu,oiuv,qv->oipq", rows[a], w, rows[b]).contiguous())
        self.register_buffer("bias", conv.bias.detach().clone() if conv.bias is not None else None)
        # A gridded convolution's grids: pulling the small input is the same as pulling its upsampled copy.
        gridded = isinstance(conv, GriddedConv2d)
        self.grid_in = conv.grid_in if gridded else nn.Identity()
        self.grid_out = conv.grid_out if gridded else nn.Identity()

    @classmethod
    def kernel_from_phases(cls, phases: dict[str, torch.Tensor]) -> torch.Tensor:
        """The 3x3 kernel (O, I, 3, 3) that four phase kernels `{"w00": (O, I, 2, 2), ...}` were folded from
        (least squares over the 16 taps, exact for a folded kernel): reading trained weights back from a
        folded graph."""
        rows = cls.phase_rows(torch.float64)
        fold = torch.einsum("apu,bqv->abpquv", rows, rows)  # (a, b, p, q) tap <- (u, v) kernel entry, as __init__
        taps = torch.stack([phases[f"w{a}{b}"].double() for a in range(2) for b in range(2)], 2)  # (O, I, 4, 2, 2)
        O, I = taps.shape[:2]
        kernel = torch.linalg.pinv(fold.reshape(16, 9)) @ taps.reshape(O * I, 16).T  # (9, O*I)
        return kernel.T.reshape(O, I, 3, 3).to(phases["w00"].dtype)

    def forward(self, x):
        x = self.grid_in(x)
        N, _, H, W = x.shape
        phases = [F.conv2d(F.pad(x, (1 - b, b, 1 - a, a)), getattr(self, f"w{a}{b}"), self.bias)
                  for a in range(2) for b in range(2)]
        y = torch.stack(phases, 2)  # (N, O, 4, H, W): phase index 2a + b
        O = y.shape[1]
        return self.grid_out(y.reshape(N, O, 2, 2, H, W).permute(0, 1, 4, 2, 5, 3).reshape(N, O, 2 * H, 2 * W))


def fold_upsampling(module: nn.Module) -> nn.Module:
    """Replace, in place, every `Upsample2x` followed by a 3x3 same-size convolution in an nn.Sequential
    with one `UpsampleConv2x` (the same function, fewer FLOPs); returns `module`. For inference graphs:
    the folded weights are buffers, not parameters."""
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            up, conv = seq[i], seq[i + 1]
            if (isinstance(up, Upsample2x) and isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3)
                    and conv.stride == (1, 1) and conv.padding == (1, 1) and conv.dilation == (1, 1)
                    and conv.groups == 1 and conv.padding_mode == "zeros"):
                seq[i], seq[i + 1] = nn.Identity(), UpsampleConv2x(conv)
    return module


def vae_decoder(cfg: GLPConfig) -> nn.Sequential:
    """The latents -> frames half of the VAE (`cfg.vae_decoder`).

    "mirror": the encoder's levels in reverse, a residual block at every resolution up to the
    frame's own (0.49 GFLOP a 64x64 frame). "light": the same down to half the frame's size, then
    a convolution to 2x2 pixels a cell (pixel shuffle), so nothing runs at full resolution and the
    widths stop at 64 (0.15 GFLOP a frame): it is the graph that runs once per shown frame, and
    flat-coloured tabletop scenes do not need the mirror's width to be drawn sharply.
    """
    w, C, S = cfg.vae_width, cfg.latent_channels, cfg.vae_stages
    gn = lambda c: nn.GroupNorm(8 if c >= 8 else 1, c)
    if cfg.vae_decoder == "mirror":
        chans = [w * min(2 ** i, 4) for i in range(S + 1)]  # e.g. 24, 48, 96, 96
        dec = [nn.Conv2d(C, chans[-1], 3, padding=1), ResBlock(chans[-1], chans[-1])]
        for i in reversed(range(S)):
            dec += [Upsample2x(), nn.Conv2d(chans[i + 1], chans[i], 3, padding=1), ResBlock(chans[i], chans[i])]
        dec += [gn(chans[0]), nn.SiLU(), nn.Conv2d(chans[0], 3, 3, padding=1)]
        return nn.Sequential(*dec)
    chans = [min(w * 2 ** i, 64) for i in range(S)]  # levels 1..S: e.g. 32, 64, 64 at 32, 16, 8 px
    dec = [nn.Conv2d(C, chans[-1], 3, padding=1), ResBlock(chans[-1], chans[-1])]
    for i in reversed(range(S - 1)):
        dec += [Upsample2x(), nn.Conv2d(chans[i + 1], chans[i], 3, padding=1), ResBlock(chans[i], chans[i])]
    dec += [gn(chans[0]), nn.SiLU(), nn.Conv2d(chans[0], 3 * 4, 3, padding=1), PixelShuffle2x()]
    return nn.Sequential(*dec)


class VAE(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        w = cfg.vae_width
        chans = [w * min(2 ** i, 4) for i in range(cfg.vae_stages + 1)]  # e.g. 16, 32, 64, 64
        C = cfg.latent_channels
        enc = [nn.Conv2d(3, chans[0], 3, padding=1)]
        for i in range(cfg.vae_stages):
            enc += [ResBlock(chans[i], chans[i]), nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1)]
        enc += [ResBlock(chans[-1], chans[-1]), nn.GroupNorm(8 if chans[-1] >= 8 else 1, chans[-1]), nn.SiLU(),
                nn.Conv2d(chans[-1], 2 * C, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.decoder = vae_decoder(cfg)
        self.register_buffer("latent_scale", torch.ones(()))

    def encode_moments(self, frames):
        """frames (N, 3, H, W) in [0, 1] -> mean, logvar (N, C, h, w), unscaled."""
        mean, logvar = self.encoder(frames * 2.0 - 1.0).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def encode(self, frames):
        """Deterministic scaled latents (the mean), as exported."""
        return self.encode_moments(frames)[0] * self.latent_scale

    def decode_raw(self, latents):
        """Scaled latents (N, C, h, w) -> frames (N, 3, H, W), unclamped."""
        return (self.decoder(latents / self.latent_scale) + 1.0) * 0.5

    def decode(self, latents):
        return self.decode_raw(latents).clamp(0.0, 1.0)


# ---------------------------------------------------------------------------
# Encoder h: the frames of one chunk -> state tokens.

class StateEncoder(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        D = cfg.state_width
        self.grid = cfg.image_size // cfg.encoder_patch
        self.patch = nn.Conv2d(3, D, cfg.encoder_patch, stride=cfg.encoder_patch)
        self.pos = nn.Parameter(torch.randn(1, cfg.chunk_frames, self.grid * self.grid, D) * 0.02)
        self.blocks = nn.ModuleList([Block(D, cfg.encoder_heads) for _ in range(cfg.encoder_layers)])
        # Learned pooling queries read the chunk into a fixed number of tokens.
        self.pool_queries = nn.Parameter(torch.randn(1, cfg.state_tokens, D) * 0.02)
        self.pool_ln = nn.LayerNorm(D)
        self.pool = CrossAttention(D, cfg.encoder_heads)
        self.pool_mlp = MLP(D)
        self.ln_out = nn.LayerNorm(D)

    def forward(self, frames):
        """frames (B, F, 3, H, W) in [0, 1] -> (B, state_tokens, D)."""
        B, Fr = frames.shape[:2]
        x = self.patch(frames.reshape(B * Fr, *frames.shape[2:]) * 2.0 - 1.0)  # (B*F, D, g, g)
        x = x.flatten(2).transpose(1, 2).reshape(B, Fr, self.grid * self.grid, -1) + self.pos
        x = x.reshape(B, Fr * self.grid * self.grid, -1)  # (B, F*g*g, D)
        for blk in self.blocks:
            x = blk(x)
        q = self.pool_queries.expand(B, -1, -1)
        q = q + self.pool(q, self.pool_ln(x))
        q = q + self.pool_mlp(q)
        return self.ln_out(q)


# ---------------------------------------------------------------------------
# Backbone f: a causal transformer run as a multi-turn conversation.
#
# The KV cache is a fixed-size rolling buffer of `max_turns` turns (oldest
# first, empty slots masked). Keys are cached *before* rotary embedding and
# rotated at use by their slot: cache slot j sits at position j and the current
# turn at cache_tokens + i. Relative distances are what RoPE sees, so they stay
# right as the buffer rolls, and positions never grow with the session length.

def rope_tables(n_pos: int, head_size: int, base: float = 10000.0):
    inv = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float64) / head_size))
    ang = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv[None, :]  # (T, hs/2)
    ang = torch.cat([ang, ang], dim=-1)  # (T, hs)
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin):
    """x (B, nh, T, hs); cos/sin (T, hs)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class BackboneLayer(nn.Module):
    def __init__(self, width: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = MLP(width)

    def forward(self, x, past_k, past_v, bias, cos, sin):
        """x (B, T, D); past_k/v (B, nh, P, hs) unrotated -> x, (k, v) of this turn unrotated."""
        P, T = past_k.shape[2], x.shape[1]
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q, k, v = split_heads(q, self.n_head), split_heads(k, self.n_head), split_heads(v, self.n_head)
        k_all = torch.cat([past_k, k], dim=2)  # (B, nh, P+T, hs)
        v_all = torch.cat([past_v, v], dim=2)
        y = attention(apply_rope(q, cos[P:P + T], sin[P:P + T]), apply_rope(k_all, cos[:P + T], sin[:P + T]), v_all, bias)
        x = x + self.proj(merge_heads(y))
        x = x + self.mlp(self.ln2(x))
        return x, k, v


class Backbone(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        self.cfg = cfg
        D, Q = cfg.state_width, cfg.queries
        self.init_state = nn.Parameter(torch.randn(1, Q, D) * 0.02)  # s_{-1}
        self.queries = nn.Parameter(torch.randn(1, Q, D) * 0.02)     # the Q learned query embeddings
        self.prev_proj = nn.Linear(D, D)
        self.obs_proj = nn.Linear(D, D)
        self.action_proj = nn.Sequential(nn.LayerNorm(cfg.text_width), nn.Linear(cfg.text_width, D))
        self.segment = nn.Parameter(torch.randn(4, D) * 0.02)  # prev | observed | action | queries
        self.layers = nn.ModuleList([BackboneLayer(D, cfg.backbone_heads) for _ in range(cfg.backbone_layers)])
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, D)
        cos, sin = rope_tables(cfg.cache_tokens + cfg.turn_tokens, D // cfg.backbone_heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.register_buffer("causal", torch.tril(torch.ones(cfg.turn_tokens, cfg.turn_tokens)), persistent=False)

    def empty_cache(self, batch: int, device=None, turns: int | None = None):
        """An empty rolling cache of `turns` turns (default max_turns).

        Training episodes shorter than max_turns may use a smaller cache: the
        valid keys sit in the last slots either way, so relative positions and
        results are the same; only the always-masked empty slots are skipped.
        """
        cfg = self.cfg
        slots = min(turns or cfg.max_turns, cfg.max_turns) * cfg.turn_tokens
        hs = cfg.state_width // cfg.backbone_heads
        kv = torch.zeros(batch, cfg.backbone_layers, 2, cfg.backbone_heads, slots, hs, device=device)
        mask = torch.zeros(batch, slots, device=device)
        return kv, mask

    def forward(self, prev_state, is_first, observed, action, action_mask, past_kv, past_mask):
        """One turn.

        prev_state (B, Q, D) s_t from the previous turn (ignored where is_first)
        is_first   (B,)      1.0 on a session's first turn: use the learned s_{-1}
        observed   (B, Ns, D) h(o), the encoder's reading of the newest finished chunk
        action     (B, L, 384) action token states, action_mask (B, L) 1 = real token
        past_kv    (B, layers, 2, nh, P, hs), past_mask (B, P)
        -> next_state (B, Q, D), present_kv, present_mask (rolled by one turn)
        """
        B, Q, T = prev_state.shape[0], self.cfg.queries, self.cfg.turn_tokens
        first = is_first.reshape(B, 1, 1)
        prev = first * self.init_state + (1.0 - first) * prev_state
        x = torch.cat([
            self.prev_proj(prev) + self.segment[0],
            self.obs_proj(observed) + self.segment[1],
            self.action_proj(action) + self.segment[2],
            self.queries.expand(B, -1, -1) + self.segment[3],
        ], dim=1)  # (B, T, D)
        turn_mask = torch.cat([
            torch.ones(B, Q + observed.shape[1], dtype=x.dtype, device=x.device),
            action_mask.to(x.dtype),
            torch.ones(B, Q, dtype=x.dtype, device=x.device),
        ], dim=1)  # (B, T)
        # Keys visible to each query: valid past slots, and current keys at or before it.
        visible = torch.cat([
            past_mask[:, None, :].expand(B, T, -1),
            self.causal[None] * turn_mask[:, None, :],
        ], dim=2)  # (B, T, P+T)
        bias = ((1.0 - visible) * NEG)[:, None]  # (B, 1, T, P+T)
        new_k, new_v = [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, past_kv[:, i, 0], past_kv[:, i, 1], bias, self.rope_cos, self.rope_sin)
            new_k.append(k)
            new_v.append(v)
        next_state = self.head(self.ln_f(x[:, -Q:]))  # outputs at the query positions
        present = torch.stack([torch.stack(new_k, 1), torch.stack(new_v, 1)], 2)  # (B, layers, 2, nh, T, hs)
        present_kv = torch.cat([past_kv[:, :, :, :, T:], present], dim=4)  # drop the oldest turn
        present_mask = torch.cat([past_mask[:, T:], turn_mask], dim=1)
        return next_state, present_kv, present_mask


# ---------------------------------------------------------------------------
# Decoder g: flow-matching diffusion transformer over the Swin-DPM window.

def timestep_embedding(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    """sigma (...,) in [0, 1] -> sinusoidal features (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=sigma.device) / half)
    args = (sigma * 1000.0)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x, shift, scale):
    return x * (1.0 + scale) + shift


class DecoderBlock(nn.Module):
    """adaLN-Zero self-attention (chunk-causal), then the two cross-attention
    streams added together, then an adaLN-Zero MLP."""

    def __init__(self, width: int, n_head: int, text_width: int, state_width: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = SelfAttention(width, n_head)
        self.ln_ca = nn.LayerNorm(width)
        self.text_attn = CrossAttention(width, n_head, context_width=width)
        # The predicted state enters through its own stream whose output starts
        # at zero, so a new state pathway cannot disturb the decoder at init.
        self.state_attn = CrossAttention(width, n_head, context_width=width, zero_out=True)
        self.ln2 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = MLP(width)
        # adaLN-Zero: shift/scale/gate for attention and MLP, gates start at 0.
        self.ada = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, mod, self_bias, text, text_bias, state, state_bias):
        """x (B, N, D); mod (B, N, 6D) per-token conditioning."""
        sh1, sc1, g1, sh2, sc2, g2 = mod.chunk(6, dim=-1)
        x = x + g1 * self.attn(modulate(self.ln1(x), sh1, sc1), self_bias)
        h = self.ln_ca(x)
        x = x + self.text_attn(h, text, text_bias) + self.state_attn(h, state, state_bias)
        return x + g2 * self.mlp(modulate(self.ln2(x), sh2, sc2))


class DiTDecoder(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        self.cfg = cfg
        D, C, p = cfg.decoder_width, cfg.latent_channels, cfg.patch_size
        Fw, Tf = cfg.window_frames, cfg.tokens_per_frame
        # Each frame's patch arrives beside the history frame's patch at the same
        # place (channel concatenation, as image-to-video diffusion models take
        # their conditioning image): copying what did not change is then a
        # local, per-token job instead of something attention must learn.
        self.patch_in = nn.Linear(2 * C * p * p, D)
        self.spatial_pos = nn.Parameter(torch.randn(1, 1, Tf, D) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(1, Fw, 1, D) * 0.02)  # history, earlier f0.., later f0..
        self.t_embed = nn.Sequential(nn.Linear(256, D), nn.SiLU(), nn.Linear(D, D))
        self.text_in = nn.Sequential(nn.LayerNorm(cfg.text_width), nn.Linear(cfg.text_width, D))
        self.state_in = nn.Sequential(nn.LayerNorm(cfg.state_width), nn.Linear(cfg.state_width, D))
        self.blocks = nn.ModuleList([
            DecoderBlock(D, cfg.decoder_heads, cfg.text_width, cfg.state_width) for _ in range(cfg.decoder_layers)
        ])
        self.ln_out = nn.LayerNorm(D, elementwise_affine=False)
        self.ada_out = nn.Linear(D, 2 * D)
        self.out = nn.Linear(D, C * p * p)
        nn.init.zeros_(self.ada_out.weight)
        nn.init.zeros_(self.ada_out.bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # Frame groups: 0 = history, 1 = earlier chunk, 2 = later chunk.
        group = torch.tensor([0] + [1] * cfg.chunk_frames + [2] * cfg.chunk_frames)
        tok_group = group.repeat_interleave(Tf)  # (N,)
        self.register_buffer("tok_group", tok_group.float(), persistent=False)
        # Chunk-causal: a token sees its own group and groups before it, never later ones.
        self.register_buffer("causal", (tok_group[None, :] <= tok_group[:, None]).float(), persistent=False)
        self.register_buffer("sees_earlier", (tok_group == 1).float(), persistent=False)
        # Each chunk reads its own action and state: history and earlier tokens
        # read context slot 0 (the earlier chunk's), later tokens slot 1.
        self.register_buffer("ctx_slot", (tok_group == 2).float(), persistent=False)

    def patchify(self, lat):
        """(B, Fw, C, h, w) -> (B, Fw, Tf, C*p*p)."""
        B, Fw, C, h, w = lat.shape
        p = self.cfg.patch_size
        x = lat.reshape(B, Fw, C, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(B, Fw, (h // p) * (w // p), C * p * p)

    def unpatchify(self, x):
        """(B, Fw, Tf, C*p*p) -> (B, Fw, C, h, w)."""
        cfg = self.cfg
        B, Fw = x.shape[:2]
        p, C, g = cfg.patch_size, cfg.latent_channels, cfg.latent_size // cfg.patch_size
        x = x.reshape(B, Fw, g, g, C, p, p).permute(0, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, Fw, C, g * p, g * p)

    def forward(self, window, frame_sigma, earlier_present, text, text_mask, state, reference=None):
        """Velocity for every frame of the window (`reference` is for the U-Net; unused here).

        window (B, Fw, C, h, w)   [history | earlier chunk | later chunk] at their noise levels
        frame_sigma (B, Fw)       sigma of each frame
        earlier_present (B,)      0 when the window has no earlier chunk yet
        text (B, 2, L, 384), text_mask (B, 2, L): action tokens of (earlier, later)
        state (B, 2, Q, Ds): predicted states of (earlier, later)
        -> v (B, Fw, C, h, w)
        """
        B, Fw = window.shape[:2]
        L, Q = text.shape[2], state.shape[2]
        patches = self.patchify(window)  # (B, Fw, Tf, C*p*p)
        history = patches[:, :1].expand_as(patches)  # the (noised) history frame, beside every frame
        x = self.patch_in(torch.cat([patches, history], dim=-1)) + self.spatial_pos + self.frame_pos  # (B, Fw, Tf, D)
        Tf, D = x.shape[2], x.shape[3]
        x = x.reshape(B, Fw * Tf, D)
        c = self.t_embed(timestep_embedding(frame_sigma, 256))  # (B, Fw, D)

        # Masks. Self-attention: chunk-causal, and nobody sees an absent earlier chunk
        # except the earlier slot itself (whose output is then ignored).
        hide = (1.0 - earlier_present).reshape(B, 1, 1) * (1.0 - self.sees_earlier)[None, :, None] * self.sees_earlier[None, None, :]
        self_bias = ((1.0 - self.causal[None] * (1.0 - hide)) * NEG)[:, None]  # (B, 1, N, N)
        slot = self.ctx_slot[None, :, None]  # (1, N, 1)
        text_ok = torch.cat([(1.0 - slot) * text_mask[:, None, 0, :], slot * text_mask[:, None, 1, :]], dim=2)
        text_bias = ((1.0 - text_ok) * NEG)[:, None]  # (B, 1, N, 2L)
        state_ok = torch.cat([(1.0 - slot).expand(B, -1, Q), slot.expand(B, -1, Q)], dim=2)
        state_bias = ((1.0 - state_ok) * NEG)[:, None]  # (B, 1, N, 2Q)
        text_ctx = self.text_in(text).reshape(B, 2 * L, D)
        state_ctx = self.state_in(state).reshape(B, 2 * Q, D)

        for blk in self.blocks:
            mod = blk.ada(F.silu(c))  # (B, Fw, 6D): per frame, then broadcast to its tokens
            mod = mod[:, :, None, :].expand(B, Fw, Tf, 6 * D).reshape(B, Fw * Tf, 6 * D)
            x = blk(x, mod, self_bias, text_ctx, text_bias, state_ctx, state_bias)
        shift, scale = self.ada_out(F.silu(c)).chunk(2, dim=-1)  # (B, Fw, D)
        x = self.ln_out(x).reshape(B, Fw, Tf, D)
        x = self.out(modulate(x, shift[:, :, None], scale[:, :, None]))
        return self.unpatchify(x)


# ---------------------------------------------------------------------------
# Decoder g, convolutional: a U-Net over each chunk's latents.
#
# A chunk's F frames are stacked as channels (F * C at the latents' own 8x8
# grid: one cell is 8x8 px, finer than a small move), so one U-Net pass draws a
# whole chunk. The window's two chunks are two passes of the same network:
# the later chunk also reads the earlier chunk's current (noisy) latents as
# input channels, the earlier chunk never reads the later one (chunk-causal).
# Both read the noised history frame beside their own channels, so copying what
# did not change is a local job. Each chunk's own action and predicted state
# enter through adaptive group norm (scale and shift from sigma + the pooled
# action tokens + the pooled state, zero-initialised) in every residual block and
# through zero-initialised cross-attention to the action and state tokens.
#
# With `flow_target == "change"` the network works on the change from the
# history frame, d = x - h: its input is d_sigma = x_sigma - (1 - sigma) h and it
# predicts v_d = noise - d, returned as the velocity of x (v_x = v_d - h), so
# the sampler, the Euler step and the exported graph's inputs are unchanged.

class AdaGroupNorm(nn.Module):
    def __init__(self, channels: int, cond_width: int):
        super().__init__()
        self.norm = nn.GroupNorm(8, channels, affine=False)
        self.mod = nn.Linear(cond_width, 2 * channels)
        nn.init.zeros_(self.mod.weight)
        nn.init.zeros_(self.mod.bias)

    def forward(self, x, cond):  # x (N, C, H, W), cond (N, E) already through SiLU
        scale, shift = self.mod(cond)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1.0 + scale) + shift


class CondResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_width: int, conv=nn.Conv2d):
        super().__init__()
        self.norm1 = AdaGroupNorm(c_in, cond_width)
        self.conv1 = conv(c_in, c_out, 3, padding=1)
        self.norm2 = AdaGroupNorm(c_out, cond_width)
        self.conv2 = conv(c_out, c_out, 3, padding=1)
        self.skip = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, cond):
        h = self.conv1(F.silu(self.norm1(x, cond)))
        h = self.conv2(F.silu(self.norm2(h, cond)))
        return self.skip(x) + h


class SpatialCrossAttention(nn.Module):
    """Every cell of a feature map attends to the chunk's action and state tokens."""

    def __init__(self, width: int, n_head: int, context_width: int):
        super().__init__()
        self.ln = nn.LayerNorm(width)
        self.attn = CrossAttention(width, n_head, context_width=context_width, zero_out=True)

    def forward(self, x, context, bias):
        N, C, H, W = x.shape
        t = x.reshape(N, C, H * W).transpose(1, 2)  # (N, HW, C)
        t = self.attn(self.ln(t), context, bias)
        return x + t.transpose(1, 2).reshape(N, C, H, W)


class ChunkUNet(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        self.cfg = cfg
        C, Fc, n = cfg.latent_channels, cfg.chunk_frames, cfg.decoder_layers
        w0, w1 = cfg.decoder_width, cfg.decoder_width * 3 // 2
        E = cfg.decoder_width * 2  # conditioning vector width
        ctx = cfg.decoder_width    # context token width
        heads = cfg.decoder_heads
        self.t_embed = nn.Sequential(nn.Linear(256, E), nn.SiLU(), nn.Linear(E, E))
        self.other_embed = nn.Sequential(nn.Linear(256, E), nn.SiLU(), nn.Linear(E, E))
        self.role = nn.Parameter(torch.zeros(2, E))  # earlier slot, later slot
        self.text_pool = nn.Sequential(nn.LayerNorm(cfg.text_width), nn.Linear(cfg.text_width, E))
        self.state_pool = nn.Sequential(nn.LayerNorm(cfg.state_width), nn.Linear(cfg.state_width, E))
        self.text_ctx = nn.Sequential(nn.LayerNorm(cfg.text_width), nn.Linear(cfg.text_width, ctx))
        self.state_ctx = nn.Sequential(nn.LayerNorm(cfg.state_width), nn.Linear(cfg.state_width, ctx))
        h = cfg.latent_size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, h), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)  # (1, 2, h, w)
        # own chunk (F*C) | earlier chunk for the later slot (F*C) | history frame (C) | coordinates (2)
        # Every convolution's input and output on a grid (ActivationGrid) when the config asks for one.
        conv = GriddedConv2d if cfg.decoder_grid_levels else nn.Conv2d
        self.inp = conv(2 * Fc * C + C + 2, w0, 3, padding=1)
        self.down0 = nn.ModuleList([CondResBlock(w0, w0, E, conv) for _ in range(n)])
        self.attn0 = SpatialCrossAttention(w0, heads, ctx)
        self.downsample = conv(w0, w1, 3, stride=2, padding=1)
        self.down1 = nn.ModuleList([CondResBlock(w1, w1, E, conv) for _ in range(n)])
        self.attn1 = SpatialCrossAttention(w1, heads, ctx)
        self.mid = CondResBlock(w1, w1, E, conv)
        self.up1 = nn.ModuleList([CondResBlock(2 * w1 if i == 0 else w1, w1, E, conv) for i in range(n)])
        self.attn_up1 = SpatialCrossAttention(w1, heads, ctx)
        self.upsample = nn.Sequential(Upsample2x(), conv(w1, w0, 3, padding=1))
        self.up0 = nn.ModuleList([CondResBlock(2 * w0 if i == 0 else w0, w0, E, conv) for i in range(n)])
        self.attn_up0 = SpatialCrossAttention(w0, heads, ctx)
        self.out_norm = nn.GroupNorm(8, w0)
        self.out = conv(w0, Fc * C, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def unet(self, x, cond, context, bias):
        h = self.inp(x)
        for blk in self.down0:
            h = blk(h, cond)
        h = self.attn0(h, context, bias)
        skip0 = h
        h = self.downsample(h)
        for blk in self.down1:
            h = blk(h, cond)
        h = self.attn1(h, context, bias)
        skip1 = h
        h = self.mid(h, cond)
        h = torch.cat([h, skip1], dim=1)
        for blk in self.up1:
            h = blk(h, cond)
        h = self.attn_up1(h, context, bias)
        h = torch.cat([self.upsample(h), skip0], dim=1)
        for blk in self.up0:
            h = blk(h, cond)
        h = self.attn_up0(h, context, bias)
        return self.out(F.silu(self.out_norm(h)))

    def forward(self, window, frame_sigma, earlier_present, text, text_mask, state, reference=None):
        """Same contract as `DiTDecoder.forward`; the history frame's velocity is 0.
        reference (B, C, h, w): the clean history frame the change is taken from (default: the
        window's noised one). Clean, an idle chunk is the history frame exactly, not a copy that
        loses a little to the conditioning noise in every chunk."""
        cfg = self.cfg
        B, Fw, C, h, w = window.shape
        Fc = cfg.chunk_frames
        hist = window[:, 0]  # (B, C, h, w), noised to the conditioning sigma
        ref = hist if reference is None else reference
        se = frame_sigma[:, 1].reshape(B, 1, 1, 1, 1)
        sl = frame_sigma[:, 1 + Fc].reshape(B, 1, 1, 1, 1)
        earlier, later = window[:, 1:1 + Fc], window[:, 1 + Fc:]
        change = cfg.flow_target == "change"
        if change:  # d_sigma = x_sigma - (1 - sigma) h
            earlier = earlier - (1.0 - se) * ref[:, None]
            later = later - (1.0 - sl) * ref[:, None]
        pe = earlier_present.reshape(B, 1, 1, 1)
        e_in = earlier.reshape(B, Fc * C, h, w)
        l_in = later.reshape(B, Fc * C, h, w)
        coords = self.coords.expand(B, -1, -1, -1)
        x = torch.cat([
            torch.cat([e_in, torch.zeros_like(e_in), hist, coords], dim=1),  # earlier slot: never sees the later chunk
            torch.cat([l_in, e_in * pe, hist, coords], dim=1),
        ], dim=0)  # (2B, ...)

        zero = torch.zeros_like(frame_sigma[:, 1])
        sig_own = torch.cat([frame_sigma[:, 1], frame_sigma[:, 1 + Fc]])
        sig_other = torch.cat([zero, frame_sigma[:, 1]])
        other_present = torch.cat([zero, earlier_present.reshape(B)])[:, None]
        txt = torch.cat([text[:, 0], text[:, 1]])          # (2B, L, 384)
        tmask = torch.cat([text_mask[:, 0], text_mask[:, 1]])  # (2B, L)
        st = torch.cat([state[:, 0], state[:, 1]])          # (2B, Q, Ds)
        pooled_text = (txt * tmask[..., None]).sum(1) / tmask.sum(1, keepdim=True).clamp(min=1.0)
        role = torch.cat([self.role[0:1].expand(B, -1), self.role[1:2].expand(B, -1)])
        cond = (self.t_embed(timestep_embedding(sig_own, 256))
                + other_present * self.other_embed(timestep_embedding(sig_other, 256))
                + role + self.text_pool(pooled_text) + self.state_pool(st.mean(dim=1)))
        cond = F.silu(cond)
        context = torch.cat([self.text_ctx(txt), self.state_ctx(st)], dim=1)  # (2B, L+Q, ctx)
        ok = torch.cat([tmask, torch.ones(2 * B, st.shape[1], dtype=tmask.dtype, device=tmask.device)], dim=1)
        bias = ((1.0 - ok) * NEG)[:, None, None, :]  # (2B, 1, 1, L+Q)

        v = self.unet(x, cond, context, bias).reshape(2 * B, Fc, C, h, w)
        v_e, v_l = v[:B], v[B:]
        if cfg.decoder_predicts == "data":
            # The network drew the clean chunk (or change); its velocity is (x_sigma - x_hat) / sigma, so an
            # Euler step to sigma 0 lands exactly on x_hat, and an untrained or idle network (x_hat = 0 on
            # the change) keeps the history frame as it is. sigma 0 only reaches an absent earlier chunk.
            v_e = (earlier - v_e) / se.clamp(min=1e-3)
            v_l = (later - v_l) / sl.clamp(min=1e-3)
        if change:  # v_x = v_d - h
            v_e = v_e - ref[:, None]
            v_l = v_l - ref[:, None]
        return torch.cat([torch.zeros_like(window[:, :1]), v_e, v_l], dim=1)


# ---------------------------------------------------------------------------
# The whole model.

class GLP(nn.Module):
    def __init__(self, cfg: GLPConfig):
        super().__init__()
        self.cfg = cfg
        self.vae = VAE(cfg)
        self.encoder = StateEncoder(cfg)
        self.backbone = Backbone(cfg)
        self.decoder = ChunkUNet(cfg) if cfg.decoder_kind == "unet" else DiTDecoder(cfg)

    def window(self, history_frame, history_noise, history_sigma, earlier, later, sigma):
        """Assemble the decoder's input window and per-frame sigmas.

        history_frame (B, C, h, w) clean conditioning latent, noised here to history_sigma (B,)
        earlier, later (B, F, C, h, w) already at sigma[:, 0], sigma[:, 1] (B, 2)
        -> window (B, 1+2F, C, h, w), frame_sigma (B, 1+2F)
        """
        B, Fc = later.shape[:2]
        hs = history_sigma.reshape(B, 1, 1, 1)
        cond = (1.0 - hs) * history_frame + hs * history_noise  # x_sigma of the history frame
        window = torch.cat([cond[:, None], earlier, later], dim=1)
        frame_sigma = torch.cat([
            history_sigma.reshape(B, 1),
            sigma[:, 0:1].expand(B, Fc),
            sigma[:, 1:2].expand(B, Fc),
        ], dim=1)
        return window, frame_sigma

    def denoise_call(self, history, history_noise, history_sigma, earlier, later, sigma, sigma_next,
                     earlier_present, text, text_mask, state):
        """One Causal Swin-DPM decoder call, Euler step included (as exported).

        history (B, F, C, h, w) clean latents of the newest finished chunk; its
            last frame is the conditioning frame, noised to `history_sigma`
        history_noise (B, C, h, w); history_sigma (B,)
        earlier, later (B, F, C, h, w) at sigma[:, 0], sigma[:, 1]
        sigma, sigma_next (B, 2); earlier_present (B,)
        -> earlier_next, later_next (B, F, C, h, w)
        """
        B, Fc = later.shape[:2]
        window, frame_sigma = self.window(history[:, -1], history_noise, history_sigma, earlier, later, sigma)
        v = self.decoder(window, frame_sigma, earlier_present, text, text_mask, state, reference=history[:, -1])
        dt = (sigma - sigma_next).reshape(B, 2, 1, 1, 1, 1)
        earlier_next = earlier - dt[:, 0] * v[:, 1:1 + Fc]
        later_next = later - dt[:, 1] * v[:, 1 + Fc:]
        return earlier_next, later_next


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
