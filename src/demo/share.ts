/**
 * Share links: a rollout is replayable from (bundle, scene, seed, action log),
 * so a URL that carries those four reproduces it exactly.
 */
import { seedOption } from '../index';

export interface ShareRecord {
  bundle: string;
  scene: string;
  seed: number;
  /** [chunk, action] for every non-idle action. */
  actions: [number, string][];
}

export function encodeShare(r: ShareRecord, base: string): string {
  const url = new URL(base);
  url.search = '';
  url.searchParams.set('bundle', r.bundle);
  url.searchParams.set('scene', r.scene);
  url.searchParams.set('seed', String(r.seed));
  if (r.actions.length) url.searchParams.set('actions', JSON.stringify(r.actions));
  return url.href;
}

/** Read a share link; malformed parts are reported, not thrown, so the page still opens. */
export function decodeShare(params: URLSearchParams): { record: Partial<ShareRecord>; problems: string[] } {
  const record: Partial<ShareRecord> = {};
  const problems: string[] = [];
  const bundle = params.get('bundle');
  if (bundle) record.bundle = bundle;
  const scene = params.get('scene');
  if (scene) record.scene = scene;
  const seed = params.get('seed');
  if (seed !== null) {
    const n = seedOption.parse(seed);
    if (n !== null) record.seed = n;
    else problems.push(`seed "${seed}" is not ${seedOption.accepts}`);
  }
  const actions = params.get('actions');
  if (actions) {
    try {
      const list = JSON.parse(actions) as unknown;
      if (!Array.isArray(list)) throw new Error('not a list');
      record.actions = list.map((e, i) => {
        if (!Array.isArray(e) || !Number.isInteger(e[0]) || e[0] < 0 || typeof e[1] !== 'string') {
          throw new Error(`entry ${i} is not [chunk, text]`);
        }
        return [e[0], e[1]] as [number, string];
      });
    } catch (e) {
      problems.push(`the action log in the link is unreadable (${(e as Error).message}); starting without it`);
    }
  }
  return { record, problems };
}
