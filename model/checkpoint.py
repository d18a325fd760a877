"""Where a model's weights come from: a training checkpoint, the autoencoder of
an exported bundle, or a seeded random init (tests, smoke exports).

A bundle ships ONNX graphs, not PyTorch weights; the VAE's graphs keep their
parameter names, except the group-norm scales and shifts, which the exporter
folds into unnamed constants in module order, and the convolutions after an
upsampling, which it folds into four phase kernels. `load_vae` reads them back
and checks the result against the graphs themselves, so a new GLP stage can be
trained on a shipped autoencoder without its training run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model.config import GLPConfig, get_config
from model.glp import GLP, VAE, UpsampleConv2x


# Fields a trained model can take other values of with the same weights: the action encoder's token budget
# (no weight depends on the number of action tokens), the sampling settings (SAMPLING_FIELDS), and the
# decoder's activation grid (buffers calibrated after training, `model.quantize.calibrate_grid`).
WEIGHT_FREE_FIELDS = ("max_action_tokens", "denoise_steps", "decoder_grid_levels")


def load_checkpoint(path: Path, **overrides) -> tuple[GLP, dict]:
    """A run's checkpoint (`ckpt.pt` or `glp.pt`) -> the model on its EMA weights, and the run's metadata.
    `overrides`: other values of WEIGHT_FREE_FIELDS (e.g. a longer action token budget to train on)."""
    bad = set(overrides) - set(WEIGHT_FREE_FIELDS)
    if bad:
        raise ValueError(f"{sorted(bad)} change the weights' shapes; only {WEIGHT_FREE_FIELDS} can be overridden")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    cfg = GLPConfig.from_dict({**ckpt["config"], **overrides})
    model = GLP(cfg)
    state = ckpt.get("ema") or ckpt["model"]
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), ckpt.get("meta", {})


def random_model(config: str, seed: int = 0, **overrides) -> GLP:
    """Untrained weights for tests: the zero-initialised outputs (adaLN-Zero,
    the state stream, the final layer) get small random values too, so every
    path of every graph carries signal and parity tests can fail."""
    torch.manual_seed(seed)
    model = GLP(get_config(config, **overrides).model)
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return model.eval()


def save_weights(checkpoint: Path, out: Path) -> Path:
    """The EMA weights of a run in half precision, with its config and record: small enough to keep in
    the repository beside the bundle, loadable by `load_checkpoint` and `model.train --init-from`."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    ema = ck.get("ema") or ck["model"]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": ck["config"], "stage": "done", "step": ck.get("step"), "meta": ck.get("meta", {}),
                "ema": {k: v.half() if v.is_floating_point() else v for k, v in ema.items()}}, out)
    return out


def _vae_from_graphs(bundle: Path, cfg: GLPConfig) -> VAE:
    import onnx
    from onnx import numpy_helper

    vae = VAE(cfg)
    state = vae.state_dict()
    loaded = {}
    for part, graph in (("encoder", "vae_encoder"), ("decoder", "vae_decoder")):
        graph_proto = onnx.load(str(Path(bundle) / "graphs" / f"{graph}.onnx")).graph
        named = {i.name: numpy_helper.to_array(i) for i in graph_proto.initializer}
        for k, v in named.items():
            if k.startswith("vae.") and k[4:] in state:
                loaded[k[4:]] = torch.from_numpy(np.array(v, dtype=np.float32)).reshape(state[k[4:]].shape)
        # Convolutions the exporter folded with their upsampling (`fold_upsampling`) hold four phase kernels.
        for k in [k for k in named if k.startswith("vae.") and k.endswith(".w00")]:
            conv = k[4:-len(".w00")]
            phases = {f"w{a}{b}": torch.from_numpy(np.array(named[f"vae.{conv}.w{a}{b}"], dtype=np.float32))
                      for a in range(2) for b in range(2)}
            loaded[f"{conv}.weight"] = UpsampleConv2x.kernel_from_phases(phases)
        # Group norms: InstanceNormalization -> Reshape -> Mul(scale) -> Add(shift), scale and shift (C, 1, 1)
        # constants, in module order (equal constants may be one initializer, shared).
        folded = _group_norm_constants(graph_proto, named)
        norms = [n for n, m in getattr(vae, part).named_modules() if isinstance(m, torch.nn.GroupNorm)]
        if len(folded) != len(norms):
            raise ValueError(f"{graph}.onnx: {len(folded)} folded group norms for {len(norms)} in the model")
        for n, (scale, shift) in zip(norms, folded):
            loaded[f"{part}.{n}.weight"] = torch.from_numpy(scale.reshape(-1).astype(np.float32))
            loaded[f"{part}.{n}.bias"] = torch.from_numpy(shift.reshape(-1).astype(np.float32))
    # A scale of exactly 1 leaves no named constant (the exporter drops the product); the checks below
    # against both graphs catch any other value.
    loaded.setdefault("latent_scale", torch.ones(()))
    missing = sorted(set(state) - set(loaded))
    if missing:
        raise ValueError(f"{bundle}: no weights for {missing[:5]}")
    vae.load_state_dict(loaded)
    vae.eval()
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (1, 3, cfg.image_size, cfg.image_size)).astype(np.float32)
    latents = rng.standard_normal((cfg.chunk_frames, cfg.latent_channels, cfg.latent_size, cfg.latent_size))
    _check_against_graph(vae.encode, Path(bundle) / "graphs" / "vae_encoder.onnx", frames)
    _check_against_graph(vae.decode, Path(bundle) / "graphs" / "vae_decoder.onnx", latents.astype(np.float32))
    return vae


def _group_norm_constants(graph, constants: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scale, shift) of each exported group norm, in node order."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_consumer(name, op):
        nodes = consumers.get(name, [])
        if len(nodes) != 1 or nodes[0].op_type != op:
            raise ValueError(f"a group norm's {op} was not found after {name}: not a graph this exporter wrote")
        return nodes[0]

    out = []
    for node in graph.node:
        if node.op_type != "InstanceNormalization":
            continue
        mul = only_consumer(only_consumer(node.output[0], "Reshape").output[0], "Mul")
        add = only_consumer(mul.output[0], "Add")
        scale = next(constants[i] for i in mul.input if i in constants)
        shift = next(constants[i] for i in add.input if i in constants)
        out.append((scale, shift))
    return out


def _check_against_graph(fn, graph: Path, x: np.ndarray, tol: float = 1e-3) -> None:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        got = fn(torch.from_numpy(x)).numpy()
    err = float(np.abs(got - want).max())
    if err > tol:
        raise ValueError(f"weights read back from {graph} do not reproduce it (max diff {err:.2e})")


def bundle_vae_config(bundle: Path, cfg: GLPConfig) -> GLPConfig:
    """`cfg` (e.g. `config_from_manifest`'s, which knows the graphs' outer sizes only) with the VAE's inner
    sizes read from the bundle's graphs: its width (the encoder's first convolution) and its decoder
    ("light" draws 2x2 pixels a cell: its last convolution has 12 outputs, the mirror's 3)."""
    import dataclasses

    import onnx
    dims = {}
    for graph in ("vae_encoder", "vae_decoder"):
        for i in onnx.load(str(Path(bundle) / "graphs" / f"{graph}.onnx")).graph.initializer:
            dims[i.name] = list(i.dims)
    convs = sorted((int(k.split(".")[2]), v) for k, v in dims.items()
                   if k.startswith("vae.decoder.") and k.endswith(".weight") and k.count(".") == 3 and len(v) == 4)
    return dataclasses.replace(cfg, vae_width=dims["vae.encoder.0.weight"][0],
                               vae_decoder="light" if convs[-1][1][0] == 12 else "mirror")


def load_vae(source: Path | str, cfg: GLPConfig) -> VAE:
    """The finished autoencoder of a checkpoint (past stage 1) or of a bundle folder."""
    source = Path(source)
    if source.is_dir():
        return _vae_from_graphs(source, cfg)
    ck = torch.load(source, map_location="cpu", weights_only=False)
    if ck.get("stage") == "ae":
        raise ValueError(f"{source} is still in stage 1 (autoencoder); finish it first")
    vae = VAE(cfg)
    state = ck.get("ema") or ck["model"]
    vae.load_state_dict({k[len("vae."):]: v.float() for k, v in state.items() if k.startswith("vae.")})
    return vae.eval()


# Sampling settings a trained model can change without retraining: training draws every sigma from a
# continuum, so the number of Euler steps K is the sampler's choice (the model card says which was measured).
SAMPLING_FIELDS = ("denoise_steps",)


def derive_checkpoint(source: Path, out: Path, vae_decoder_from: Path | None = None,
                      settings: dict | None = None) -> Path:
    """A checkpoint made from a finished one: its VAE decoder replaced by one trained on the same encoder
    (`model.vae_decoder`), and/or sampling settings changed. What was done is recorded in its metadata."""
    ck = torch.load(source, map_location="cpu", weights_only=False)
    cfg = dict(ck["config"])
    ema = dict(ck.get("ema") or ck["model"])
    meta = dict(ck.get("meta", {}))
    record = {"from": str(source)}
    if vae_decoder_from:
        other = torch.load(vae_decoder_from, map_location="cpu", weights_only=False)
        theirs = other.get("ema") or other["model"]
        enc = [k for k in ema if k.startswith("vae.") and not k.startswith("vae.decoder.")]
        differs = [k for k in enc if not torch.equal(ema[k].float(), theirs[k].float())]
        if differs:
            raise ValueError(f"{vae_decoder_from} was trained on another encoder ({differs[0]} differs): "
                             "its decoder does not read these latents")
        ema = {k: v for k, v in ema.items() if not k.startswith("vae.decoder.")}
        ema.update({k: v for k, v in theirs.items() if k.startswith("vae.decoder.")})
        cfg["vae_decoder"] = other["config"].get("vae_decoder", "mirror")
        meta["vae_decoder"] = other.get("meta", {}).get("vae_decoder", {"from": str(vae_decoder_from)})
        record["vae_decoder_from"] = str(vae_decoder_from)
    for k, v in (settings or {}).items():
        if k not in SAMPLING_FIELDS:
            raise ValueError(f"{k} is not a sampling setting ({', '.join(SAMPLING_FIELDS)}); retrain to change it")
        record[k] = {"was": cfg[k], "now": v}
        cfg[k] = v
    GLPConfig.from_dict(cfg)  # validate
    # The source's probe measured other weights or settings: kept in the record, not quoted by the card
    # (`python -m model.probe --checkpoint OUT --record` measures these).
    stages = {k: dict(v) for k, v in meta.get("stages", {}).items()}
    source_probe = stages.get("glp", {}).pop("last_probe", None) or meta.get("best_probe")
    meta.pop("best_probe", None)
    if stages:
        meta["stages"] = stages
    if source_probe:
        record["source_probe"] = source_probe
    meta.setdefault("derived", []).append(record)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": cfg, "stage": "done", "step": ck.get("step"), "meta": meta, "model": ema, "ema": ema}, out)
    return out


def main(argv=None):
    """Derive a checkpoint from a finished one (a new VAE decoder, other sampling settings)."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--from", dest="source", type=Path, required=True, help="a finished checkpoint")
    ap.add_argument("--vae-decoder-from", type=Path, help="a `model.vae_decoder` run's glp.pt, same encoder")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help=f"sampling settings: {SAMPLING_FIELDS}")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    settings = {}
    for kv in args.set:
        k, _, v = kv.partition("=")
        settings[k] = int(v)
    print(f"wrote {derive_checkpoint(args.source, args.out, args.vae_decoder_from, settings)}")


if __name__ == "__main__":
    main()
