/**
 * Parsers for numeric options: a value that is not a number is a usage error
 * (commander's InvalidArgumentError, exit 2), not a NaN deep in a pipeline.
 */
import { InvalidArgumentError } from 'commander';

/** A number above 0 (fractions allowed: `--chunk-size 0.5`). */
export function positiveNumber(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Give a number above 0.');
  return n;
}

/** A whole number from 1 up. */
export function positiveInt(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError('Give a whole number from 1 up.');
  return Number(v);
}

/** A whole number from 0 up. */
export function wholeNumber(v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('Give a whole number from 0 up.');
  return Number(v);
}
