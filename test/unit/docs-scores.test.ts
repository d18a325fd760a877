/**
 * The scores README.md and the model card's notes (model/cards/tabletop-notes.md)
 * quote in their prose are the shipped bundle's own: its manifest
 * (`eval.scores`), its evaluation report (success by action type) and its
 * model card (the probe at the shipped step). A new bundle fails here until
 * the prose says what it measures.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { validateManifest } from '../../src/contract/manifest';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
/** Prose with its line breaks folded, so a phrase may wrap. */
const prose = (path: string) => read(path).replace(/\s+/g, ' ');

const bundle = 'public/models/tabletop/';
const manifest = validateManifest(JSON.parse(read(`${bundle}manifest.json`)));
const scores = manifest.eval!.scores;

/** Success per action type from the report's first table (held-out cases): type -> [model, no window, repeat last frame]. */
const byType: Record<string, number[]> = {};
const report = read(`${bundle}${manifest.eval!.report}`);
for (const m of report.matchAll(/<tr><td>(\w+)<\/td><td class="n">\d+<\/td>((?:<td class="n">[\d.]+<\/td>){3})/g)) {
  // the first table is the held-out cases'; later ones (the free-form set's) use the same row layout
  byType[m[1]] ??= [...m[2].matchAll(/[\d.]+/g)].map((x) => Number(x[0]));
}

/** The probe line the exporter writes into the bundle's model card. */
const card = prose(`${bundle}README.md`);
const probeLine = /Probe .*? right direction ([\d.]+), named object found ([\d.]+), scene kept ([\d.]+), placement error [\d.]+, environment actions ([\d.]+), colours kept after 16 chunks ([\d.]+) \(score ([\d.]+)/.exec(card);
const probe = probeLine && {
  direction: Number(probeLine[1]),
  found: Number(probeLine[2]),
  kept: Number(probeLine[3]),
  environment: Number(probeLine[4]),
  colours16: Number(probeLine[5]),
  score: Number(probeLine[6]),
};

const percent = (x: number) => Math.round(100 * x);
const type = (t: string, column = 0) => byType[t]?.[column];
/**
 * A success rate by type as the report's table rounds it (3 decimals), in percent: the prose may
 * round the true rate either way across a .5 (21 of 22 is 95.45%, the table's 0.955).
 */
const typePercent = (t: string, column = 0) => ({ approx: 100 * type(t, column)! });

/** Each claim: where, the phrase with the number in its one group, and the number the bundle says. */
const claims: { doc: string; says: RegExp; is: () => number | { approx: number } | null | undefined }[] = [
  { doc: 'README.md', says: /the right way in (\d+)% of agent actions/, is: () => percent(scores.agent_direction_accuracy) },
  { doc: 'README.md', says: /with the rest of the scene kept in (\d+)%/, is: () => percent(scores.agent_fidelity) },
  { doc: 'README.md', says: /changes the environment correctly in (\d+)%/, is: () => percent(scores.environment_fidelity) },
  { doc: 'README.md', says: /picks the true next frame among four in (\d+)%/, is: () => percent(scores.stepwise_accuracy) },
  { doc: 'README.md', says: /reaches (\d+)% of the oracle's success/, is: () => percent(scores.planning_relative) },
  { doc: 'README.md', says: /consistency over 64 chunks (\d+)%/, is: () => percent(scores.consistency_64) },
  { doc: 'README.md', says: /a move to a named place lands in (\d+)% of cases/, is: () => typePercent('move_to') },
  { doc: 'README.md', says: /next to another object in (\d+)%/, is: () => typePercent('move_next_to') },
  { doc: 'README.md', says: /recolouring works in (\d+)%/, is: () => typePercent('recolour') },
  { doc: 'model/cards/tabletop-notes.md', says: /except planning \((\d+)% of the oracle's success/, is: () => percent(scores.planning_relative) },
  ...(['move', 'add', 'remove', 'recolour'] as const).map((t) => ({
    doc: 'model/cards/tabletop-notes.md',
    says: new RegExp(`[:,] ${t} (\\d+)%`),
    is: () => typePercent(t),
  })),
  { doc: 'model/cards/tabletop-notes.md', says: /lighting (\d+)%/, is: () => typePercent('light') },
  { doc: 'model/cards/tabletop-notes.md', says: /move to a named place (\d+)%/, is: () => typePercent('move_to') },
  { doc: 'model/cards/tabletop-notes.md', says: /move next to another object (\d+)%/, is: () => typePercent('move_next_to') },
  { doc: 'model/cards/tabletop-notes.md', says: /\(repeating the last frame: (\d+)%/, is: () => typePercent('move_next_to', 2) },
  { doc: 'model/cards/tabletop-notes.md', says: /Right direction (\d+)%/, is: () => percent(scores.agent_direction_accuracy) },
  { doc: 'model/cards/tabletop-notes.md', says: /\(probe: (\d+)%\)/, is: () => probe && percent(probe.direction) },
  { doc: 'model/cards/tabletop-notes.md', says: /placement error ([\d.]+) table widths/, is: () => Number(scores.agent_position_error.toFixed(2)) },
  { doc: 'model/cards/tabletop-notes.md', says: /consistency over 64 chunks (\d+)%/, is: () => percent(scores.consistency_64) },
  { doc: 'model/cards/tabletop-notes.md', says: /the probe's colours kept after 16 chunks (\d+)%/, is: () => probe && percent(probe.colours16) },
];

describe('scores quoted in prose', () => {
  it('are read from the bundle', () => {
    expect(Object.keys(byType)).toEqual(expect.arrayContaining(['move', 'move_to', 'move_next_to', 'add', 'remove', 'recolour', 'light']));
    expect(probe, "the model card's probe line").not.toBeNull();
  });

  for (const c of claims) {
    it(`${c.doc}: ${c.says.source}`, () => {
      const m = c.says.exec(prose(c.doc));
      expect(m, `"${c.says.source}" is no longer in ${c.doc}: say the score again, and update this test`).not.toBeNull();
      const want = c.is();
      if (want && typeof want === 'object') expect(Math.abs(Number(m![1]) - want.approx)).toBeLessThanOrEqual(0.5 + 0.05);
      else expect(Number(m![1])).toBe(want);
    });
  }

  it('"beats not acting": next to another object, the model succeeds more often than repeating the last frame', () => {
    expect(prose('model/cards/tabletop-notes.md')).toContain('so the model now beats not acting');
    expect(type('move_next_to')!).toBeGreaterThan(type('move_next_to', 2)!);
  });

  it("the notes' ablation row of the shipped step is the model card's probe", () => {
    // | run (shipped) | steps | direction | found | kept | environment | colours @16 | identity @16 | identity @32 | score |
    const row = /\| [^|]*\(shipped\) \| [\d,]+ \| ((?:\*\*[\d.]+\*\* \| ){8})/.exec(prose('model/cards/tabletop-notes.md'));
    expect(row, 'the (shipped) row of the ablation table').not.toBeNull();
    const [direction, found, kept, environment, colours16, , , score] = [...row![1].matchAll(/[\d.]+/g)].map((x) => Number(x[0]));
    const p = probe!;
    expect([direction, found, kept, environment, colours16].map((x) => x.toFixed(2))).toEqual(
      [p.direction, p.found, p.kept, p.environment, p.colours16].map((x) => x.toFixed(2)),
    );
    expect(score).toBe(p.score);
  });
});
