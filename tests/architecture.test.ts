import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';

/**
 * Imports point down: app → jobs → lib (DESIGN.md). lib is the generic engine and the ports; it never reaches up to
 * the product's jobs, the Next app, or the entry points (scripts, tests, bench). jobs never reach up to the app.
 * What a lower layer needs from a higher one (the job registry, say) arrives as a parameter.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const ENTRY_POINTS = ['scripts', 'tests', 'bench'];
const RULES: { layer: string; mayNotImport: string[] }[] = [
  { layer: 'lib', mayNotImport: ['jobs', 'app', ...ENTRY_POINTS] },
  { layer: 'jobs', mayNotImport: ['app', ...ENTRY_POINTS] },
];
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

/** Every module specifier of a file: static imports and re-exports, side-effect imports, import(), require(). */
function importSpecifiers(source: string): string[] {
  // Comments out first, so a commented-out import does not count; `//` after a colon (a URL in a string) stays.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const patterns = [
    /\b(?:import|export)\b[^'";]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /\bimport\s*(['"])([^'"]+)\1/g,
    /\b(?:import|require)\s*\(\s*(['"])([^'"]+)\1\s*\)/g,
  ];
  return patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[2]!));
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** The top-level directory a specifier of `file` lands in, or null for a package. */
function targetDir(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return null;
  const resolved = path.resolve(path.dirname(file), specifier);
  const rel = path.relative(ROOT, resolved);
  return rel.startsWith('..') ? null : (rel.split(path.sep)[0] ?? null);
}

describe('importSpecifiers', () => {
  test.each([
    ["import { jobs } from '../../jobs/index.ts';", ['../../jobs/index.ts']],
    ["import type { AdminJob } from './jobs.ts';", ['./jobs.ts']],
    ['import {\n  a,\n  type B,\n} from "../app/x.tsx";', ['../app/x.tsx']],
    ["import def, * as ns from '../a.ts';", ['../a.ts']],
    ["export { x } from '../jobs/x.ts';\nexport * from './y.ts';", ['../jobs/x.ts', './y.ts']],
    ["import './admin.css';", ['./admin.css']],
    ["const m = await import('../../app/page.tsx');", ['../../app/page.tsx']],
    ["const m = require('../jobs/a.js');", ['../jobs/a.js']],
    ["// import { jobs } from '../jobs/index.ts';\n/* import '../app/x.ts'; */", []],
    ["const url = 'https://example.com/a'; import { z } from 'zod';", ['zod']],
    ["export const from = 'jobs/index.ts'; const s = 'import';", []],
  ])('%j → %j', (source, expected) => {
    expect(importSpecifiers(source).sort()).toEqual([...expected].sort());
  });
});

describe('imports point down: app → jobs → lib', () => {
  test('tsconfig has no path aliases (the rules below resolve relative specifiers only)', () => {
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as {
      compilerOptions?: { paths?: unknown; baseUrl?: unknown };
    };
    expect(tsconfig.compilerOptions?.paths).toBeUndefined();
    expect(tsconfig.compilerOptions?.baseUrl).toBeUndefined();
  });

  test.each(RULES.map((r) => ({ ...r, list: r.mayNotImport.map((d) => `${d}/`).join(', ') })))(
    '$layer/ imports nothing from $list',
    ({ layer, mayNotImport }) => {
      const files = sourceFiles(path.join(ROOT, layer));
      expect(files.length).toBeGreaterThan(0);
      let specifiers = 0;
      const arrowsUp: string[] = [];
      for (const file of files) {
        for (const specifier of importSpecifiers(fs.readFileSync(file, 'utf8'))) {
          specifiers++;
          const target = targetDir(file, specifier);
          if (target && mayNotImport.includes(target)) arrowsUp.push(`${path.relative(ROOT, file)} → ${specifier}`);
        }
      }
      // The parser found the layer's imports at all (an empty result would pass vacuously).
      expect(specifiers).toBeGreaterThan(files.length);
      expect(arrowsUp).toEqual([]);
    },
  );
});
