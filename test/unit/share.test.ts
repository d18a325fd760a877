import { describe, expect, it } from 'vitest';

import { decodeShare, encodeShare } from '../../src/demo/share';

describe('share links', () => {
  it('round-trip bundle, scene, seed and actions', () => {
    const rec = { bundle: '/models/tabletop/', scene: 'scene-2', seed: 42, actions: [[0, 'push the red block left'], [3, 'dim the lights & wait <b>']] as [number, string][] };
    const url = encodeShare(rec, 'https://demo.test/?old=1');
    expect(url).not.toContain('old=1');
    expect(decodeShare(new URL(url).searchParams)).toEqual({ record: rec, problems: [] });
  });

  it('report malformed parts instead of failing', () => {
    const { record, problems } = decodeShare(new URLSearchParams('seed=-3&actions=[[1]]&scene=scene-0'));
    expect(record).toEqual({ scene: 'scene-0' });
    expect(problems).toHaveLength(2);
  });
});
