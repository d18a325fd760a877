/**
 * The Debian packages the tests use: one list (scripts/system-packages.sh),
 * which the README's table matches, and a check that names what is missing
 * and the command that installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

const SCRIPT = 'scripts/system-packages.sh';

const listed = execFileSync('bash', [SCRIPT, 'list'], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .map((line) => {
    const [pkg, part] = line.split('\t');
    return { pkg, part };
  });

describe('system packages', () => {
  it('each names its part of the tests', () => {
    expect(listed.length).toBeGreaterThan(0);
    for (const { pkg, part } of listed) expect(['python', 'gpu-bench', 'browser'], pkg).toContain(part);
  });

  it("the README's table lists the same packages, for the same parts", () => {
    const readme = readFileSync('README.md', 'utf8');
    const section = readme.slice(readme.indexOf('## What a machine needs'));
    const rows = [...section.matchAll(/^\| `([a-z0-9.+-]+)` \| ([a-z-]+) \|/gm)].map((m) => ({ pkg: m[1], part: m[2] }));
    expect(rows).toEqual(listed);
  });

  it('a missing one is named, with the command that installs it, and the check fails', () => {
    const r = spawnSync('bash', [SCRIPT, 'check', 'browser'], {
      encoding: 'utf8',
      env: { ...process.env, CHROMIUM_PATH: '/nonexistent/chromium' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('chromium');
    expect(r.stderr).toContain('/nonexistent/chromium');
    expect(r.stderr).toMatch(/apt-get install -y chromium\b/);
  });

  it('a part with nothing missing passes quietly', () => {
    // CHROMIUM_PATH names a file that is there (Node itself); ps (procps) comes with the test command's first step.
    const r = spawnSync('bash', [SCRIPT, 'check', 'browser'], {
      encoding: 'utf8',
      env: { ...process.env, CHROMIUM_PATH: process.execPath },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('where apt-get cannot install one, install stops at once, naming it and the command', () => {
    // apt-get (and sudo, for a run that is not root) stand-ins: a machine with no way to the archive
    const bin = mkdtempSync(join(tmpdir(), 'system-packages-'));
    try {
      writeFileSync(join(bin, 'apt-get'), '#!/bin/sh\necho "E: no archive here" >&2\nexit 100\n');
      writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n');
      for (const f of ['apt-get', 'sudo']) chmodSync(join(bin, f), 0o755);
      const r = spawnSync('bash', [SCRIPT, 'install', 'browser'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CHROMIUM_PATH: '/nonexistent/chromium' },
        timeout: 30_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('E: no archive here'); // apt-get's own reason
      expect(r.stderr).toMatch(/apt-get install -y chromium\b/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
