/** What every bench script shares: medians of rounds, and one timed step printed as it ends. */

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Run `f`, print how long it took beside `what`, and return the seconds. */
export async function timed(what: string, f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  const s = (performance.now() - t0) / 1000;
  console.log(`  ${what.padEnd(56)} ${s.toFixed(2)} s`);
  return s;
}
