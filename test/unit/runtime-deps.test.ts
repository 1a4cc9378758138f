/**
 * `npm ci --omit=dev` must leave a CLI that starts: every package that code
 * under src/ or bin/ imports at run time is in `dependencies`, not
 * `devDependencies`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|mjs|js)$/.test(e) ? [p] : [];
  });
}

/** Bare specifiers of static and dynamic imports, not type-only ones. */
export function runtimePackages(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/^\s*import\s+(?!type\s)[^'"]*?from\s+['"]([^'"./][^'"]*)['"]|import\(\s*['"]([^'"./][^'"]*)['"]\s*\)/gm)) {
    const spec = (m[1] ?? m[2])!;
    if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
    out.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return [...out];
}

describe('runtime dependencies', () => {
  it('finds value imports and skips type-only and built-in ones', () => {
    expect(runtimePackages("import { a } from 'x/y';\nimport type { B } from 'z';\nimport { c } from 'node:fs';\nawait import('@s/p/q');")).toEqual(['x', '@s/p']);
  });
  it('every package src/ imports at run time is in dependencies', () => {
    const missing = sources(join(root, 'src')).flatMap((f) => runtimePackages(readFileSync(f, 'utf8')).filter((p) => !(p in pkg.dependencies)).map((p) => `${p} (${f.slice(root.length + 1)})`));
    expect(missing).toEqual([]);
  });
  it('the pinned Node that bin/netrestore runs is a dependency', () => {
    expect(readFileSync(join(root, 'bin', 'netrestore'), 'utf8')).toContain('node_modules/node/bin/node');
    expect(pkg.dependencies.node).toMatch(/^24\./);
  });
});
