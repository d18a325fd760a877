"""Native onnxruntime beside the browser (model/bench_onnxruntime.py): every graph of
a bundle timed run by run on its test vectors, at the thread counts asked for,
and profiled in the form the benchmark reads (scripts/bench-figures.mjs)."""
from model.bench_onnxruntime import bench
from model.manifest import GRAPH_NAMES


def test_times_and_profiles_every_graph(tiny_bundle):
    out, _ = tiny_bundle
    r = bench(out, ["fp32"], [1, 2], runs=2, profile=True)
    assert [(x["variant"], x["threads"]) for x in r["results"]] == [("fp32", 1), ("fp32", 2)]
    for x in r["results"]:
        assert set(x["perGraphRunsMs"]) == set(GRAPH_NAMES)
        assert all(len(ms) == 2 and min(ms) > 0 for ms in x["perGraphRunsMs"].values())
        for g, events in x["profile"].items():
            runs = [e for e in events if e["cat"] == "Session" and e["name"] == "model_run"]
            assert len(runs) == 3, g  # the warm-up and the two timed runs
            nodes = [e for e in events if e["cat"] == "Node" and e["name"].endswith("_kernel_time")]
            assert nodes and all(e["op"] for e in nodes), g
