"""Shapes, causality and the KV cache of the GLP model (tiny config, CPU)."""
import copy

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from model.config import get_config
from model.checkpoint import random_model
from model.glp import Upsample2x, UpsampleConv2x, fold_upsampling


@pytest.fixture(scope="module", params=["unet", "dit"])
def model(request):
    """Both decoder networks: each must honour the same window contract."""
    if request.param == "unet":
        return random_model("tiny", seed=1, decoder_kind="unet", flow_target="change", decoder_predicts="data")
    return random_model("tiny", seed=1, decoder_kind="dit", flow_target="frame", decoder_predicts="velocity")


def inputs(cfg, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    F_, C, h, L, Q, D = cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.max_action_tokens, cfg.queries, cfg.state_width
    r = lambda *s: torch.randn(*s, generator=g)
    return dict(history=r(B, F_, C, h, h), history_noise=r(B, C, h, h), history_sigma=torch.full((B,), 0.055),
                earlier=r(B, F_, C, h, h), later=r(B, F_, C, h, h), sigma=torch.tensor([[0.25, 0.75]] * B),
                sigma_next=torch.tensor([[0.125, 0.625]] * B), earlier_present=torch.ones(B),
                text=r(B, 2, L, 384), text_mask=torch.ones(B, 2, L), state=r(B, 2, Q, D))


def velocity(model, x):
    window, fs = model.window(x["history"][:, -1], x["history_noise"], x["history_sigma"], x["earlier"], x["later"], x["sigma"])
    return model.decoder(window, fs, x["earlier_present"], x["text"], x["text_mask"], x["state"])


def test_shapes(model):
    cfg = model.cfg
    x = inputs(cfg)
    with torch.no_grad():
        e, l = model.denoise_call(**x)
        assert e.shape == l.shape == x["later"].shape
        frames = torch.rand(3, 3, cfg.image_size, cfg.image_size)
        z = model.vae.encode(frames)
        assert z.shape == (3, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        assert model.vae.decode(z).shape == frames.shape
        obs = model.encoder(frames[None, :1].expand(1, cfg.chunk_frames, -1, -1, -1))
        assert obs.shape == (1, cfg.state_tokens, cfg.state_width)


@pytest.mark.parametrize("what", ["later", "text_later", "state_later"])
def test_later_chunk_cannot_change_earlier_outputs(model, what):
    """Chunk-causal attention: nothing about the later chunk (latents, action, state) reaches
    the history or the earlier chunk."""
    cfg = model.cfg
    F_ = cfg.chunk_frames
    x = inputs(cfg)
    y = {k: v.clone() for k, v in x.items()}
    if what == "later":
        y["later"] = torch.randn_like(y["later"]) * 3
    elif what == "text_later":
        y["text"][:, 1] = torch.randn_like(y["text"][:, 1])
    else:
        y["state"][:, 1] = torch.randn_like(y["state"][:, 1])
    with torch.no_grad():
        a, b = velocity(model, x), velocity(model, y)
    assert torch.allclose(a[:, : 1 + F_], b[:, : 1 + F_], atol=1e-5)  # history + earlier unchanged
    assert not torch.allclose(a[:, 1 + F_:], b[:, 1 + F_:], atol=1e-3)  # the later chunk did see it


def test_earlier_chunk_cannot_change_history_output(model):
    cfg = model.cfg
    x = inputs(cfg)
    y = dict(x, earlier=torch.randn_like(x["earlier"]))
    with torch.no_grad():
        a, b = velocity(model, x), velocity(model, y)
    assert torch.allclose(a[:, :1], b[:, :1], atol=1e-5)
    assert not torch.allclose(a[:, 1 + cfg.chunk_frames:], b[:, 1 + cfg.chunk_frames:], atol=1e-3)


def test_absent_earlier_chunk_is_invisible(model):
    cfg = model.cfg
    x = inputs(cfg)
    x["earlier_present"] = torch.zeros(2)
    y = dict(x, earlier=torch.randn_like(x["earlier"]) * 5)
    with torch.no_grad():
        a, b = velocity(model, x), velocity(model, y)
    assert torch.allclose(a[:, 1 + cfg.chunk_frames:], b[:, 1 + cfg.chunk_frames:], atol=1e-5)


def test_state_stream_starts_at_zero():
    """The state cross-attention's output projection is zero-initialised."""
    from model.glp import GLP
    m = GLP(get_config("tiny", decoder_kind="dit", flow_target="frame", decoder_predicts="velocity").model)
    for blk in m.decoder.blocks:
        assert blk.state_attn.proj.weight.abs().sum() == 0 and blk.state_attn.proj.bias.abs().sum() == 0


def turn_inputs(cfg, turns, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(turns, 1, cfg.state_tokens, cfg.state_width, generator=g)
    act = torch.randn(turns, 1, cfg.max_action_tokens, 384, generator=g)
    am = torch.ones(turns, 1, cfg.max_action_tokens)
    am[:, :, 5:] = 0  # action padding
    return obs, act, am


def unroll(model, obs, act, am, cache_turns=None):
    cfg = model.cfg
    kv, mask = model.backbone.empty_cache(1, turns=cache_turns)
    prev = torch.zeros(1, cfg.queries, cfg.state_width)
    out, caches = [], []
    with torch.no_grad():
        for t in range(len(obs)):
            prev, kv, mask = model.backbone(prev, torch.full((1,), float(t == 0)), obs[t], act[t], am[t], kv, mask)
            out.append(prev)
            caches.append((kv, mask))
    return out, caches


def test_backbone_turns_are_causal(model):
    """A later turn cannot change the prediction of an earlier one; an earlier one changes later ones."""
    obs, act, am = turn_inputs(model.cfg, 3)
    a, _ = unroll(model, obs, act, am)
    obs2 = obs.clone()
    obs2[2] += 1.0
    b, _ = unroll(model, obs2, act, am)
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert not torch.allclose(a[2], b[2], atol=1e-4)
    act2 = act.clone()
    act2[0] = torch.randn_like(act2[0])  # (a constant shift would vanish in the action LayerNorm)
    c, _ = unroll(model, obs, act2, am)
    assert not torch.allclose(a[1], c[1], atol=1e-4)  # history is remembered through the cache


def test_kv_cache_rolls_one_turn_at_a_time(model):
    cfg = model.cfg
    T = cfg.turn_tokens
    obs, act, am = turn_inputs(cfg, cfg.max_turns + 3)
    _, caches = unroll(model, obs, act, am)
    for (kv0, m0), (kv1, m1) in zip(caches, caches[1:]):
        assert kv1.shape[-2] == cfg.cache_tokens
        assert torch.equal(kv1[..., :-T, :], kv0[..., T:, :])  # everything moves one turn older
        assert torch.equal(m1[:, :-T], m0[:, T:])
    kv, mask = caches[-1]
    # full after max_turns turns: every slot valid except each turn's action padding; the oldest turns are gone
    assert (mask.reshape(cfg.max_turns, T).sum(1) == T - (cfg.max_action_tokens - 5)).all()


def test_training_cache_matches_full_cache(model):
    """Training unrolls with a cache sized to the episode; predictions are the same."""
    obs, act, am = turn_inputs(model.cfg, 3)
    full, _ = unroll(model, obs, act, am)
    small, _ = unroll(model, obs, act, am, cache_turns=2)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(full, small))


def test_unet_new_pathways_start_at_zero():
    """The U-Net's modulation, cross-attention and output start at zero, so at init the
    change-predicting decoder's velocity is exactly "stay where the history frame is"."""
    from model.glp import GLP
    cfg = get_config("tiny", decoder_kind="unet", flow_target="change", decoder_predicts="velocity").model
    m = GLP(cfg)
    for name, mod in m.decoder.named_modules():
        if name.endswith(".mod") or name.endswith("attn.proj") or name == "out":
            assert mod.weight.abs().sum() == 0 and mod.bias.abs().sum() == 0, name
    x = inputs(cfg)
    with torch.no_grad():
        v = velocity(m, x)
    hist = (1 - 0.055) * x["history"][:, -1] + 0.055 * x["history_noise"]  # velocity() passes no reference
    assert torch.allclose(v[:, 1:], -hist[:, None].expand_as(v[:, 1:]), atol=1e-6)


def test_unet_change_target_is_a_reparameterisation():
    """Flowing on the change from the history frame gives the same loss surface in latent
    space: a perfect change-velocity equals a perfect latent-velocity (v_x = v_d - h)."""
    cfg = get_config("tiny", decoder_kind="unet", flow_target="change", decoder_predicts="velocity").model
    from model.glp import GLP
    m = GLP(cfg).eval()
    x = inputs(cfg)
    # With the network's raw output forced to the true change velocity, the Euler step lands on the data.
    data = torch.randn_like(x["later"])
    noise = torch.randn_like(x["later"])
    sl = 0.75
    x["later"] = (1 - sl) * data + sl * noise
    hist = x["history"][:, -1]  # denoise_call takes the change from the clean history frame
    change_v = noise - (data - hist[:, None])
    m.decoder.unet = lambda *a, **k: torch.cat([torch.zeros_like(change_v), change_v]).flatten(1, 2)
    with torch.no_grad():
        _, later_next = m.denoise_call(**dict(x, sigma_next=torch.tensor([[0.0, 0.0]] * 2)))
    # sigma 0.75 -> 0: a full Euler step with the exact velocity gives the data back
    assert torch.allclose(later_next, data, atol=1e-5)


def test_unet_drawing_the_change_keeps_an_idle_scene_exactly():
    """Predicting the clean change: an untrained network (it draws no change) brings any noisy
    chunk to the history frame in the Euler step to sigma 0, so what is not acted on is kept."""
    from model.glp import GLP
    cfg = get_config("tiny", decoder_kind="unet", flow_target="change", decoder_predicts="data").model
    m = GLP(cfg).eval()
    x = inputs(cfg)
    with torch.no_grad():
        e, l = m.denoise_call(**dict(x, sigma=torch.tensor([[0.25, 0.75]] * 2), sigma_next=torch.zeros(2, 2)))
    hist = x["history"][:, -1]  # the clean frame: nothing is lost to the conditioning noise
    assert torch.allclose(e, hist[:, None].expand_as(e), atol=1e-5)
    assert torch.allclose(l, hist[:, None].expand_as(l), atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 7, 6, 9), (1, 3, 1, 1), (1, 16, 8, 8)])
@pytest.mark.parametrize("bias", [True, False])
def test_folded_upsampling_is_the_same_function(shape, bias):
    """Four 2x2 phase convolutions on the small input equal upsampling then the 3x3 convolution, borders
    included; the fold leaves nothing else in the sequence changed."""
    torch.manual_seed(0)
    seq = torch.nn.Sequential(Upsample2x(), torch.nn.Conv2d(shape[1], 5, 3, padding=1, bias=bias), torch.nn.SiLU())
    x = torch.randn(*shape)
    folded = fold_upsampling(copy.deepcopy(seq))
    assert [type(m) for m in folded] == [torch.nn.Identity, UpsampleConv2x, torch.nn.SiLU]
    with torch.no_grad():
        assert (folded(x) - seq(x)).abs().max() < 1e-5


def test_fold_leaves_other_convolutions_alone():
    strided = torch.nn.Sequential(Upsample2x(), torch.nn.Conv2d(4, 4, 3, stride=2, padding=1))
    wide = torch.nn.Sequential(Upsample2x(), torch.nn.Conv2d(4, 4, 5, padding=2))
    for seq in (strided, wide):
        assert [type(m) for m in fold_upsampling(copy.deepcopy(seq))] == [type(m) for m in seq]


def test_exported_graphs_fold_upsampling_and_count_it():
    """The export wrappers (what is traced and what the cost model counts) carry no upsampling, and cost
    16/36 of the multiply-adds for each folded convolution."""
    from model.cost import graph_costs
    from model.graphs import export_module, graph_module
    model = random_model("tiny")
    for g in ("vae_decoder", "decoder"):
        assert not any(isinstance(m, Upsample2x) for m in export_module(model, g).modules())
        assert any(isinstance(m, Upsample2x) for m in graph_module(model, g).modules())  # the model itself keeps them
    vae = model.vae.decoder
    saved = 0
    for i, m in enumerate(vae):
        if isinstance(m, Upsample2x):
            conv = vae[i + 1]
            # Its output size: twice the input's, whose size the preceding levels set (tiny: 8 -> 16 -> 32 px).
            n_up = sum(isinstance(x, Upsample2x) for x in list(vae)[:i + 1])
            side = model.cfg.latent_size * 2 ** n_up
            saved += 2 * conv.in_channels * conv.out_channels * side * side * (9 - 4)
    latents = torch.randn(model.cfg.chunk_frames, model.cfg.latent_channels, model.cfg.latent_size, model.cfg.latent_size)
    with FlopCounterMode(display=False) as fc:
        graph_module(model, "vae_decoder")(latents)
    unfolded, frames = fc.get_total_flops(), model.cfg.chunk_frames
    assert graph_costs(model)["perGraph"]["vae_decoder"]["flops"] == unfolded - frames * saved
