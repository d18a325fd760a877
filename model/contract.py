"""The bundle contract's names that code without pydantic needs: the graph
wrappers and the reference sampler import them from here, so the native side
of the GPU benchmark (model/native_bench.py) runs where only torch and numpy
are installed. model/manifest.py, the contract itself, re-exports them.
"""
GRAPH_NAMES = ("vae_encoder", "vae_decoder", "encoder", "backbone", "decoder")
# Also the order a missing variant falls back in (`pick_variant`; src/loader/bundle.ts `graphFile`).
VARIANTS = ("fp32", "fp16", "q8", "q4")
# The action a chunk is conditioned on when none is queued: a wording of the
# world's "wait" (model/world/language.py), written into `actionEncoder.idleAction`.
IDLE_ACTION = "wait"
