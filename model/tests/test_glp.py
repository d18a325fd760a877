"""Shapes, causality and the KV cache of the GLP model (tiny config, CPU)."""
import pytest
import torch

from model.config import get_config
from model.export import random_model


@pytest.fixture(scope="module")
def model():
    return random_model("tiny", seed=1)


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
    m = GLP(get_config("tiny").model)
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
