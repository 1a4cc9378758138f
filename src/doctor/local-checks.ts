/** Doctor checks of this machine's files: boot files against the installed packages, free space, the clock, a TLS certificate. */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { found, ok, skipped, type CheckResult, type Finding } from './finding.ts';

const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

export interface BootFilesInput {
  bootDir: string;
  /** iPXE binaries clients are sent, compared with the package's copies. */
  ipxe: string[];
  /** The restore environment (kernel, initrd): present, not compared. */
  env: string[];
  /** Where Debian's ipxe package puts them. */
  packageDir?: string;
}

export function bootFilesCheck(i: BootFilesInput): CheckResult {
  const pkg = i.packageDir ?? '/usr/lib/ipxe';
  const findings: Finding[] = [];
  for (const f of i.ipxe) {
    const mine = join(i.bootDir, f);
    const theirs = join(pkg, f);
    if (!existsSync(mine)) {
      findings.push({ check: 'boot-files', problem: `${mine} is missing`, fix: existsSync(theirs) ? `run \`netrestore build-env\` or copy ${theirs} there` : 'install Debian\'s ipxe package (apt-get install ipxe) and run `netrestore build-env`' });
    } else if (existsSync(theirs) && sha256(mine) !== sha256(theirs)) {
      findings.push({ check: 'boot-files', problem: `${mine} differs from the installed package's ${theirs} (stale after an upgrade of ipxe?)`, fix: 'run `netrestore build-env` to copy the current one; ignore this if it is your own iPXE build' });
    }
  }
  for (const f of i.env) {
    const p = join(i.bootDir, f);
    if (!existsSync(p)) findings.push({ check: 'boot-files', problem: `${p} (restore environment) is missing`, fix: 'run `netrestore build-env`' });
  }
  return found('boot-files', findings, `${i.bootDir}: ${[...i.ipxe, ...i.env].join(', ')}`);
}

/** The nearest directory that exists: an image store not made yet is judged by its parent's filesystem. */
function existing(p: string): string {
  let d = resolve(p);
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

export function freeSpaceCheck(images: string, minBytes = 10 * 2 ** 30, minFraction = 0.05): CheckResult {
  const s = statfsSync(existing(images));
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const note = `${gib(free)} free of ${gib(total)} under ${images}`;
  if (free < minBytes || free < total * minFraction) {
    return found('free-space', [{ check: 'free-space', problem: `only ${gib(free)} free of ${gib(total)} for the image store ${images}`, fix: 'remove old images (`netrestore images rm NAME`, then `netrestore images gc`) or move --images to a larger disk' }], note);
  }
  return ok('free-space', note);
}

/** The clock must not be before files this installation was made from (a dead RTC battery, no NTP). */
export function clockCheck(now: number, reference: string[]): CheckResult {
  const newest = Math.max(...reference.filter((p) => existsSync(p)).map((p) => statSync(p).mtimeMs));
  if (Number.isFinite(newest) && now < newest - 24 * 3600_000) {
    return found('clock', [{ check: 'clock', problem: `the clock says ${new Date(now).toISOString()}, before this installation's files (${new Date(newest).toISOString()})`, fix: 'set the time and enable NTP (timedatectl set-ntp true): tokens, logs and certificates depend on it' }]);
  }
  return ok('clock', new Date(now).toISOString());
}

export function tlsCheck(certPath: string | undefined, now: number, warnDays = 21): CheckResult {
  if (!certPath) return skipped('tls', 'no certificate configured (--tls-cert)');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certPath));
  } catch (err) {
    return found('tls', [{ check: 'tls', problem: `cannot read the certificate ${certPath}: ${(err as Error).message}`, fix: 'point --tls-cert at a PEM certificate' }]);
  }
  const ends = Date.parse(cert.validTo);
  const days = Math.floor((ends - now) / 86_400_000);
  if (ends <= now) return found('tls', [{ check: 'tls', problem: `the certificate ${certPath} expired on ${new Date(ends).toISOString().slice(0, 10)}`, fix: 'renew it and restart netrestore' }]);
  if (days < warnDays) return found('tls', [{ check: 'tls', problem: `the certificate ${certPath} expires in ${days} days (${new Date(ends).toISOString().slice(0, 10)})`, fix: 'renew it before then and restart netrestore' }]);
  return ok('tls', `valid until ${new Date(ends).toISOString().slice(0, 10)}`);
}
