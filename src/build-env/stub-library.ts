/**
 * Stand-ins for shared libraries a program links but never calls in the way
 * the restore environment runs it. partclone links libcrypto (1.6 MB of the
 * environment's 50 MB, zstd -19) for the checksums of its own image format
 * and libncursesw for its `-N` screen; `-D` calls neither (LD_DEBUG=bindings
 * shows no binding into them), and with lazy binding an uncalled function
 * is never looked up. The loader still wants each library by its soname with
 * the symbol versions the program names, so a stand-in has exactly those:
 * every function is `ud2`, a crash rather than a wrong answer if one is ever
 * called. Built with binutils' `as` and `ld`, which build-env needs already.
 * Pure: this file writes the assembly and the version script.
 */

export interface StubSymbol {
  name: string;
  version: string;
}

/** The libraries stood in for, and how their symbol versions are named. */
export const STUB_LIBRARIES: { soname: string; version: RegExp }[] = [
  { soname: 'libcrypto.so.3', version: /^OPENSSL_/ },
  { soname: 'libncursesw.so.6', version: /^NCURSESW6_/ },
];

/** `name@VERSION` from `nm -D --undefined-only` output, for the versions that match. */
export function undefinedSymbols(nmOutput: string, version: RegExp): StubSymbol[] {
  const out = new Map<string, StubSymbol>();
  for (const line of nmOutput.split('\n')) {
    const m = /^\s*U\s+([A-Za-z_][\w.]*)@{1,2}(\S+)$/.exec(line);
    if (m && version.test(m[2]!)) out.set(`${m[1]}@${m[2]}`, { name: m[1]!, version: m[2]! });
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** GNU assembler source: one trapping function per symbol. */
export function stubAssembly(symbols: StubSymbol[]): string {
  const names = [...new Set(symbols.map((s) => s.name))];
  return ['.text', ...names.flatMap((n) => [`.globl ${n}`, `.type ${n}, @function`, `${n}:`, '  ud2', `.size ${n}, .-${n}`]), '.section .note.GNU-stack,"",@progbits', ''].join('\n');
}

/** An ld version script: each version node with its symbols, everything else local. */
export function stubVersionScript(symbols: StubSymbol[]): string {
  const byVersion = new Map<string, string[]>();
  for (const s of symbols) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s.name]);
  const nodes = [...byVersion.entries()].sort(([a], [b]) => a.localeCompare(b));
  return nodes.map(([v, names], i) => `${v} {\n  global:\n${names.map((n) => `    ${n};\n`).join('')}${i === 0 ? '  local: *;\n' : ''}};\n`).join('');
}
