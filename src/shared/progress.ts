/**
 * Progress of long work on the admin's terminal: one line redrawn in place
 * with bytes, rate and ETA. Nothing on a non-terminal (logs and --json stay clean).
 */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The line itself, pure, for a given width. */
export function progressLine(p: { phase: string; done: number; total: number }, elapsedS: number, width = 80): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const rate = elapsedS > 0 ? p.done / elapsedS : 0;
  const eta = rate > 0 ? (p.total - p.done) / rate : Infinity;
  const tail = ` ${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(p.done)}/${formatBytes(p.total)} ${formatBytes(rate)}/s ETA ${formatDuration(eta)}`;
  const head = `${p.phase} `;
  const barWidth = Math.max(10, width - head.length - tail.length - 3);
  const filled = Math.round(frac * barWidth);
  return `${head}[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): { update(p: { phase: string; done: number; total: number }): void; end(): void } {
  if (!stream.isTTY) return { update() {}, end() {} };
  const start = performance.now();
  let last = 0;
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 200 && p.done < p.total) return;
      last = now;
      stream.write(`\r${progressLine(p, (now - start) / 1000, stream.columns || 80)}`);
    },
    end() {
      stream.write('\n');
    },
  };
}
