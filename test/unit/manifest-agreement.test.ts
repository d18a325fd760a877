/**
 * One schema per language, and this test proves they are the same schema:
 * zod's JSON Schema (src/contract/manifest.ts) against pydantic's
 * (model/manifest.py), after removing what only differs in spelling; and
 * that both derive the same graph shapes from a manifest's sizes
 * (`expectedGraphIO`, `expected_graph_io`), which each checks a bundle against.
 * The same for the test-vector index (src/contract/test-vectors.ts against
 * model/contract.py's TypedDicts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { expectedGraphIO, manifestJsonSchema, parseManifest } from '../../src/contract/manifest';
import { testVectorIndexJsonSchema } from '../../src/contract/test-vectors';

const root = new URL('../../', import.meta.url).pathname;
const python = existsSync(`${root}.venv/bin/python`) ? `${root}.venv/bin/python` : 'python3';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Inline $refs, drop titles and defaults, unwrap Optional (anyOf with null), zod's safe-integer bounds. */
function normalize(schema: Json, defs: Record<string, Json>): Json {
  if (Array.isArray(schema)) return schema.map((s) => normalize(s, defs));
  if (schema === null || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string') return normalize(defs[schema.$ref.split('/').pop()!], defs);
  if (Array.isArray(schema.anyOf)) {
    const nonNull = schema.anyOf.filter((s) => !(s && typeof s === 'object' && !Array.isArray(s) && s.type === 'null'));
    if (nonNull.length === 1) return normalize(nonNull[0], defs);
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(schema)) {
    // A constant needs no type: pydantic says "integer" for Literal[1], zod "number".
    if (k === 'type' && 'const' in schema) continue;
    if (['title', 'description', 'default', '$schema', '$defs', 'propertyNames'].includes(k)) continue;
    if (k === 'maximum' && v === Number.MAX_SAFE_INTEGER) continue;
    if (k === 'minimum' && v === Number.MIN_SAFE_INTEGER) continue;
    if (k === 'pattern' && typeof v === 'string') {
      out[k] = v.replace(/\\\//g, '/'); // a JS regex source escapes '/'
      continue;
    }
    if (k === 'required' && Array.isArray(v)) {
      out[k] = [...v].sort() as Json;
      continue;
    }
    out[k] = normalize(v, defs);
  }
  return out;
}

/** The two JSON Schemas, normalized: zod's from `ts`, pydantic's printed by `python -m model.manifest <flag>`. */
function bothSchemas(ts: unknown, flag: string): [Json, Json] {
  const py = JSON.parse(execFileSync(python, ['-m', 'model.manifest', flag], { cwd: root, encoding: 'utf8' }));
  const t = ts as Json & { $defs?: Record<string, Json> };
  return [normalize(t, t.$defs ?? {}), normalize(py, py.$defs ?? {})];
}

describe('manifest schema agreement', () => {
  it('zod and pydantic describe the same manifest', () => {
    const [a, b] = bothSchemas(manifestJsonSchema(), '--json-schema');
    expect(a).toEqual(b);
  });

  it('zod and pydantic describe the same test-vector index', () => {
    const [a, b] = bothSchemas(testVectorIndexJsonSchema(), '--test-vectors-json-schema');
    expect(a).toEqual(b);
  });

  for (const path of ['public/models/tabletop/manifest.json', 'test/vectors/manifest-valid.json']) {
    it(`both accept ${path} and derive the same graph shapes from it, in the same order`, () => {
      const ts = expectedGraphIO(parseManifest(readFileSync(`${root}${path}`, 'utf8'), path));
      const script = [
        'import json, sys',
        'from model.manifest import expected_graph_io, load_manifest',
        'print(json.dumps(expected_graph_io(load_manifest(sys.argv[1]).model_dump(by_alias=True))))',
      ].join('\n');
      const py = JSON.parse(execFileSync(python, ['-c', script, path], { cwd: root, encoding: 'utf8' }));
      expect(py).toEqual(ts);
      const order = (io: Record<string, { inputs: object; outputs: object }>) =>
        Object.entries(io).map(([g, x]) => [g, Object.keys(x.inputs), Object.keys(x.outputs)]);
      expect(order(py)).toEqual(order(ts));
    });
  }
});
