/**
 * Files a command needs from the Debian packages of this machine. A missing
 * one stops the command with the apt-get line that brings it.
 */
import { existsSync } from 'node:fs';
import { NetrestoreError, type ErrorCode } from './shared/errors.ts';

/** A file, and the Debian package that brings it. */
export type Need = readonly [path: string, pkg: string];

export function missingPackage(code: ErrorCode, what: string, pkg: string, then = ''): NetrestoreError {
  return new NetrestoreError(code, `${what} is missing: install it with \`apt-get install ${pkg}\`${then}`);
}

export function requirePackages(code: ErrorCode, needs: readonly Need[], then = ''): void {
  for (const [path, pkg] of needs) if (!existsSync(path)) throw missingPackage(code, path, pkg, then);
}
