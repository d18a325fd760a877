"""The tabletop world's guide (model/world/guide.py), as the exporter writes it into the manifest: it
names the world's own facts, and every example fits in the action encoder's word pieces."""
from pathlib import Path

from model.config import CONFIGS
from model.world import ACTION_TYPES, COLOURS, LIGHTING_LEVELS, PLACES, SHAPES
from model.world import guide

ROOT = Path(__file__).resolve().parents[2]


def vocabulary(label):
    return next(v["words"] for v in guide.VOCABULARY if v["label"] == label)


def test_one_entry_per_action_type_with_two_or_three_examples():
    assert [a["kind"] for a in guide.ACTIONS] == list(ACTION_TYPES)
    for a in guide.ACTIONS:
        assert a["description"] and "\n" not in a["description"], a["kind"]
        assert 2 <= len(a["examples"]) <= 3, a["kind"]


def test_vocabulary_names_the_worlds_facts():
    assert vocabulary("colours") == list(COLOURS)
    assert [w.split()[0] for w in vocabulary("shapes")] == list(SHAPES)
    assert sorted(vocabulary("lighting")) == sorted(LIGHTING_LEVELS)
    assert len(vocabulary("places")) == len(PLACES)


def test_examples_name_only_the_worlds_colours_and_shapes():
    shape_words = {w.strip("(),") for entry in vocabulary("shapes") for w in entry.split()}
    for a in guide.ACTIONS:
        for text in a["examples"]:
            assert text == text.lower().strip() and "  " not in text, text
            for colour in {"pink", "white", "black", "brown", "grey", "cyan"}:
                assert colour not in text.split(), text
            nouns = [w for w in text.split() if w in {"cube", "block", "box", "ball", "sphere", "triangle", "pyramid"}]
            assert set(nouns) <= shape_words, text


def test_examples_fit_the_action_encoders_word_pieces():
    """Read whole by the default model (its tokens: [CLS], the word pieces, [SEP]): an example that is cut would teach the wrong thing."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(ROOT / "public" / "models" / "tabletop" / "text-encoder" / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    budget = CONFIGS["cpu"].model.max_action_tokens
    for a in guide.ACTIONS:
        for text in a["examples"]:
            assert len(tok.encode(text).ids) <= budget, (text, tok.encode(text).tokens)


def test_world_block_settles_after_the_window():
    window = CONFIGS["cpu"].model.window_chunks
    block = guide.world_manifest(window)
    assert block["stillWhenIdle"] is True
    # tabletop actions end within their own chunk: the window's chunks are what it takes to settle
    assert block["settleChunks"] == window
    assert [a["kind"] for a in block["guide"]["actions"]] == list(ACTION_TYPES)
