/**
 * What the boot menu tells the restore environment, on the kernel command
 * line (see menus/boot-plan.ts kernelCmdline). Pure.
 */
import { NetrestoreError } from '../shared/errors.ts';
import { formatFingerprint, parseFingerprint } from '../shared/fingerprint.ts';

export type AgentMode = 'menu' | 'restore' | 'capture' | 'shell';

export interface BootParams {
  server: string;
  token: string | undefined;
  /** `sha256:HEX` of the https:// server's certificate (netrestore.tls=), checked before anything is sent. */
  fingerprint?: string | undefined;
  mode: AgentMode;
  image: string | undefined;
  task: number | undefined;
  disk: string | undefined;
  /** netrestore.login=console: booted by GRUB, which cannot ask for the login; the console asks before anything else. */
  login?: true;
}

export function parseCmdline(text: string): BootParams {
  const kv = new Map<string, string>();
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0 && word.startsWith('netrestore.')) kv.set(word.slice('netrestore.'.length, eq), word.slice(eq + 1));
  }
  const server = kv.get('server');
  if (!server || !/^https?:\/\/[^\s/]+/.test(server)) {
    throw new NetrestoreError('CMDLINE_INVALID', 'the kernel command line has no netrestore.server=http://SERVER:PORT: boot this environment from the netrestore menu, or add it by hand');
  }
  const mode = (kv.get('mode') ?? 'menu') as AgentMode;
  if (!['menu', 'restore', 'capture', 'shell'].includes(mode)) throw new NetrestoreError('CMDLINE_INVALID', `netrestore.mode=${mode} is not one of menu, restore, capture, shell`);
  const taskText = kv.get('task');
  const task = taskText === undefined ? undefined : Number(taskText);
  if (task !== undefined && !(Number.isInteger(task) && task > 0)) throw new NetrestoreError('CMDLINE_INVALID', `netrestore.task=${taskText} is not a task number`);
  const disk = kv.get('disk');
  const tls = kv.get('tls');
  const fingerprint = tls === undefined ? undefined : parseFingerprint(tls);
  if (tls !== undefined && (!fingerprint || !server.startsWith('https://'))) {
    throw new NetrestoreError('CMDLINE_INVALID', `netrestore.tls=${tls} must be sha256: and 64 hex digits, beside an https:// netrestore.server`);
  }
  return {
    server,
    token: kv.get('token'),
    fingerprint: fingerprint && formatFingerprint(fingerprint),
    mode,
    image: kv.get('image') ? decodeURIComponent(kv.get('image')!) : undefined,
    task,
    disk: disk ? (disk.startsWith('/dev/') ? disk : `/dev/${disk}`) : undefined,
    ...(kv.get('login') === 'console' ? { login: true as const } : {}),
  };
}
