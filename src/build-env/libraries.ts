/**
 * A dynamically linked program in the initramfs needs its shared libraries
 * and the loader at the same paths. `ldd` names them; this reads its output.
 */

/** The absolute paths in `ldd` output (libraries and the loader), without the vDSO. */
export function parseLdd(output: string): string[] {
  const out = new Set<string>();
  for (const line of output.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) out.add(path);
  }
  return [...out];
}
