"""
Evaluation cases drawn from held-out episodes.

Episodes (the world's JSON-lines schema, model/world/README.md) give settled
ground-truth states at chunk boundaries and the worded actions taken there.
Frames are rendered at the bundle's size, whatever size the episode file
names, and chunks have the bundle's F frames.

- `ActionCase`: one (state, action) pair, for action fidelity and step-wise
  simulation; it carries 3 distractor outcomes (other valid actions from the
  same state, preferably of the same type, whose outcomes clearly differ).
- `PlanningCase`: a start state, a goal reached by 1 or 2 hidden actions, and
  N candidate plans (the hidden one among them) whose outcomes all differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.eval.judge import same_state
from model.world import (
    ACTION_TYPES, AGENT_ACTIONS, ENVIRONMENT_ACTIONS, WorldState, apply_action, describe, random_scene, render,
    sample_action,
)

AGENT_CASES = 6            # agent-action cases per episode, spread over its steps
ENV_CASES_PER_TYPE = 1     # cases per environment action type per episode
DISTRACTORS = 3            # step-wise simulation: 4 choices
PLANNING_CASES = 2         # planning cases per episode and plan depth
CANDIDATES = 8             # plans the agent proposes, the hidden one included
DISTINCT_TOL = 0.1         # outcomes count as different when some object differs by more (or colour/lighting)


@dataclass
class ActionCase:
    episode: int
    step: int
    state: WorldState            # settled ground truth before the action
    action: dict
    text: str                    # the episode's wording
    final: WorldState            # ground truth after the action
    frame: np.ndarray            # (H, W, 3) uint8, render(state)
    target: np.ndarray           # (H, W, 3) uint8, render(final): the GT chunk's last frame
    distractors: list[dict] = field(default_factory=list)
    distractor_frames: np.ndarray | None = None  # (DISTRACTORS, H, W, 3) uint8


@dataclass
class Plan:
    actions: list[dict]
    texts: list[str]
    states: list[WorldState]     # the state each action applies to
    final: WorldState


@dataclass
class PlanningCase:
    episode: int
    step: int
    depth: int
    state: WorldState
    frame: np.ndarray            # (H, W, 3) uint8 start frame
    goal: WorldState
    goal_frame: np.ndarray       # (H, W, 3) uint8
    candidates: list[Plan]
    true_index: int


def outcome(state: WorldState, action: dict) -> WorldState:
    return apply_action(state, action, frames=1)[1]


def boundary_states(episode: dict) -> list[WorldState]:
    """Ground-truth settled states before each step, and after the last: len(steps) + 1."""
    state = random_scene(episode["scene_seed"], episode["n_objects"])
    states = [state]
    for step in episode["steps"]:
        state = outcome(state, step["action"])
        states.append(state)
    return states


def spread(indices: list[int], k: int) -> list[int]:
    """Up to k of the indices, evenly spaced (first and last included)."""
    if len(indices) <= k:
        return list(indices)
    picks = np.linspace(0, len(indices) - 1, k).round().astype(int)
    return [indices[i] for i in sorted(set(picks.tolist()))]


def distinct(a: WorldState, others: list[WorldState]) -> bool:
    return all(not same_state(a, o, tol=DISTINCT_TOL) for o in others)


def alternative_plans(state: WorldState, depth: int, n: int, avoid: list[WorldState], rng: np.random.Generator,
                      split: str, kinds=ACTION_TYPES, tries: int = 300) -> list[Plan]:
    """
    Up to n plans of `depth` sampled actions (the world's own action mix,
    restricted to `kinds` for the first action) whose outcomes differ from
    `avoid` and from each other.
    """
    plans: list[Plan] = []
    finals = list(avoid)
    for _ in range(tries):
        if len(plans) == n:
            break
        s, actions, texts, states = state, [], [], []
        for d in range(depth):
            a = sample_action(s, rng, kinds if d == 0 else ACTION_TYPES)
            actions.append(a)
            texts.append(describe(a, rng, split, s))
            states.append(s)
            s = outcome(s, a)
        if distinct(s, finals):
            plans.append(Plan(actions, texts, states, s))
            finals.append(s)
    return plans


def action_cases(episodes: list[dict], size: int, seed: int = 0, agent_cases: int = AGENT_CASES,
                 env_cases_per_type: int = ENV_CASES_PER_TYPE) -> list[ActionCase]:
    """Per episode: up to `agent_cases` agent actions and `env_cases_per_type` of each environment type."""
    cases = []
    for e, episode in enumerate(episodes):
        states = boundary_states(episode)
        steps = episode["steps"]
        chosen = spread([i for i, s in enumerate(steps) if s["action"]["type"] in AGENT_ACTIONS], agent_cases)
        for kind in ENVIRONMENT_ACTIONS:
            chosen += spread([i for i, s in enumerate(steps) if s["action"]["type"] == kind], env_cases_per_type)
        for i in sorted(chosen):
            cases.append(action_case(e, i, states[i], steps[i]["action"], steps[i]["text"], size,
                                     np.random.default_rng([seed, e, i]), episode["split"]))
    return cases


def action_case(episode: int, step: int, state: WorldState, action: dict, text: str, size: int,
                rng: np.random.Generator, split: str) -> ActionCase:
    """One case: the action's outcome, its frames at `size`, and DISTRACTORS other outcomes drawn with `rng`
    (`split`: the wording split of the distractors' texts, which the case does not keep)."""
    final = outcome(state, action)
    # same-type distractors first: "moved, but the wrong way" is the informative mistake
    alts = alternative_plans(state, 1, DISTRACTORS, [final], rng, split, (action["type"],), 100)
    if len(alts) < DISTRACTORS:
        alts += alternative_plans(state, 1, DISTRACTORS - len(alts), [final] + [p.final for p in alts], rng, split)
    return ActionCase(
        episode=episode, step=step, state=state, action=action, text=text, final=final,
        frame=render(state, size), target=render(final, size),
        distractors=[p.actions[0] for p in alts],
        distractor_frames=np.stack([render(p.final, size) for p in alts]) if alts else None,
    )


def planning_cases(episodes: list[dict], size: int, depth: int, seed: int = 0, per_episode: int = PLANNING_CASES,
                   candidates: int = CANDIDATES) -> list[PlanningCase]:
    """
    Per episode: up to `per_episode` start steps where the next `depth` episode
    actions change the scene; the goal is their outcome, and the agent's other
    candidate plans are sampled from the start state with clearly different
    outcomes. The hidden plan sits at a random position among the candidates.
    """
    cases = []
    for e, episode in enumerate(episodes):
        states = boundary_states(episode)
        steps = episode["steps"]
        starts = [i for i in range(len(steps) - depth + 1) if distinct(states[i + depth], [states[i]])]
        for i in spread(starts, per_episode):
            rng = np.random.default_rng([seed, e, i, depth, 1])
            hidden = Plan([s["action"] for s in steps[i:i + depth]], [s["text"] for s in steps[i:i + depth]],
                          states[i:i + depth], states[i + depth])
            plans = alternative_plans(states[i], depth, candidates - 1, [hidden.final], rng, episode["split"])
            k = int(rng.integers(len(plans) + 1))
            plans.insert(k, hidden)
            cases.append(PlanningCase(
                episode=e, step=i, depth=depth, state=states[i], frame=render(states[i], size),
                goal=hidden.final, goal_frame=render(hidden.final, size), candidates=plans, true_index=k,
            ))
    return cases


def sized(episode: dict, size: int, chunk_frames: int, horizon: int | None = None) -> dict:
    """The episode as the bundle sees it: its frame size, its F, at most `horizon` steps."""
    steps = episode["steps"] if horizon is None else episode["steps"][:horizon]
    return {**episode, "size": size, "frames_per_chunk": chunk_frames, "steps": steps}
