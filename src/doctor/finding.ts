/** What `netrestore doctor` reports: per check, ok, skipped (with why) or findings, each one line with the fix. */

export interface Finding {
  check: string;
  problem: string;
  fix: string;
}

export interface CheckResult {
  check: string;
  status: 'ok' | 'skipped' | 'finding';
  /** Why a check was skipped, or what an ok check saw. */
  note?: string;
  findings: Finding[];
}

export const ok = (check: string, note?: string): CheckResult => ({ check, status: 'ok', findings: [], ...(note ? { note } : {}) });
export const skipped = (check: string, note: string): CheckResult => ({ check, status: 'skipped', note, findings: [] });
export const found = (check: string, findings: Finding[], note?: string): CheckResult => (findings.length ? { check, status: 'finding', findings, ...(note ? { note } : {}) } : ok(check, note));

/** One line per finding: `ports: UDP port 69 is taken by in.tftpd (pid 812) → stop it …`. */
export const findingLine = (f: Finding): string => `${f.check}: ${f.problem} → ${f.fix}`;
