import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/shared/format.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import { diskWarning, listDisks, type Disk } from '../../src/restore-agent/disks.ts';
import type { CaptureJob, RestoreJob, RestoreSummary } from '../../src/restore-agent/jobs.ts';
import { COLS, ROWS, confirmScreen, diskListScreen, imageListScreen, progressScreen, type ImageInfo } from '../../src/restore-agent/console/screens.ts';
import { runConsole, type ConsoleDeps } from '../../src/restore-agent/console/session.ts';
import { PHASE_LABELS } from '../../src/shared/progress.ts';
import { consoleDevices, redraw, type Terminal } from '../../src/restore-agent/console/terminal.ts';

const HOST = { mac: '52:54:00:12:34:56', ip: '10.0.0.50', server: '10.0.0.1:8080' };

const image = (name: string, o: Partial<ImageInfo> = {}): ImageInfo =>
  ({
    format: 'netrestore-image',
    version: 1,
    name,
    description: `${name} as of Monday`,
    created: '2026-11-20T10:00:00.000Z',
    role: 'generic',
    warnings: [],
    source: { size: 40 * 1024 * 1024 * 1024, logicalSectorSize: 512 },
    partitionTable: { type: 'gpt', partitions: [] },
    chunkSize: 4 * 1024 * 1024,
    totals: { raw: 0, zero: 0, stored: 0, shared: 0, chunks: 0, zeroChunks: 0 },
    sha256: '0'.repeat(64),
    ...o,
  }) as ImageInfo;

const disk = (name: string, o: Partial<Disk> = {}): Disk => ({ name, path: `/dev/${name}`, model: 'QEMU HARDDISK', serial: `SN-${name}`, size: 64 * 1024 ** 3, removable: false, table: 'none', partitions: 0, holdsData: false, ...o });

describe('kernel command line of the restore environment', () => {
  it('reads server, token, mode, image, task and disk; ignores the rest', () => {
    const p = parseCmdline('BOOT_IMAGE=vmlinuz quiet netrestore.server=http://10.0.0.1:8080 netrestore.token=abc netrestore.mode=restore netrestore.image=web-01 netrestore.task=7 netrestore.disk=sda console=ttyS0');
    expect(p).toEqual({ server: 'http://10.0.0.1:8080', token: 'abc', mode: 'restore', image: 'web-01', task: 7, disk: '/dev/sda' });
  });
  it('says what is wrong: no server, an unknown mode, a task that is not a number', () => {
    expect(() => parseCmdline('quiet')).toThrow(/netrestore\.server/);
    expect(() => parseCmdline('netrestore.server=http://s netrestore.mode=erase')).toThrow(/not one of/);
    expect(() => parseCmdline('netrestore.server=http://s netrestore.task=x')).toThrow(/not a task number/);
  });
});

describe('console screens', () => {
  const fits = (lines: string[]) => {
    expect(lines.length).toBe(ROWS);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(COLS);
    for (const l of lines) expect(l).toMatch(/^[\x20-\x7e]*$/); // plain ASCII: serial consoles and TERM=linux alike
  };

  it('lists images with date, size, role and their first warning, numbered, in 80x25', () => {
    const s = imageListScreen(HOST, [image('web-01'), image('dc-01', { role: 'domain-controller', warnings: ['Restoring a domain controller rolls back its directory: USN rollback'] })], 0, '2');
    fits(s);
    const text = s.join('\n');
    expect(text).toMatch(/1\s+web-01\s+\(2026-11-20, 40\.0 GiB\)/);
    expect(text).toMatch(/2\s+dc-01 .*domain-controller/);
    expect(text).toContain('! Restoring a domain controller');
    expect(s.at(-1)).toBe(' Image number: 2');
  });

  it('cuts long names and many images to fit, with pages', () => {
    const many = Array.from({ length: 20 }, (_, i) => image(`image-${i}-${'x'.repeat(90)}`));
    const s = imageListScreen(HOST, many, 1, '');
    fits(s);
    expect(s.join('\n')).toContain('Page 2 of 4');
    expect(s.join('\n')).toMatch(/\b7\s+image-6-/);
  });

  it('shows disks with model, serial, size and a warning when one holds data', () => {
    const s = diskListScreen(HOST, 'Restore web-01: which disk?', [disk('sda', { holdsData: true, table: 'gpt', partitions: 3 }), disk('nvme0n1')], '');
    fits(s);
    const text = s.join('\n');
    expect(text).toMatch(/1\s+sda\s+64\.0 GiB\s+QEMU HARDDISK, serial SN-sda/);
    expect(text).toContain('! holds data: GPT table with 3 partitions');
    expect(text).toMatch(/2\s+nvme0n1[\s\S]*empty/);
  });

  it('asks for the disk name before overwriting, and says when the disk is too small', () => {
    const s = confirmScreen(HOST, image('web-01'), disk('sda', { size: 1024 ** 3, holdsData: true }), 'sd');
    fits(s);
    const text = s.join('\n');
    expect(text).toContain('EVERYTHING ON /dev/sda WILL BE OVERWRITTEN');
    expect(text).toContain("type the disk's name (sda)");
    expect(text).toMatch(/too small: it has 1\.0 GiB, the image needs 40\.0 GiB/);
  });

  it('draws progress with phase, bar, bytes, rate and time left', () => {
    const s = progressScreen(HOST, { title: 'Restoring web-01 to /dev/sda', phase: 'restore', done: 512 * 1024 ** 2, total: 1024 ** 3, elapsedS: 10 });
    fits(s);
    const text = s.join('\n');
    expect(text).toContain(' 50%');
    expect(text).toContain(`Phase     ${PHASE_LABELS.restore}`);
    expect(text).toContain('Done      512.0 MiB of 1.0 GiB');
    expect(text).toContain('Rate      51.2 MiB/s');
    expect(text).toContain('Left      0:10');
  });
});

describe('terminal', () => {
  it('draws the first screen whole, then only the lines that changed, and leaves the cursor after the prompt', () => {
    const first = redraw(undefined, ['a', 'b', 'prompt: ']);
    expect(first.startsWith('\x1b[H\x1b[2J')).toBe(true);
    const next = redraw(['a', 'b', 'prompt: '], ['a', 'B', 'prompt: x']);
    expect(next).not.toContain('\x1b[1;1H');
    expect(next).toContain('\x1b[2;1HB\x1b[K');
    expect(next.endsWith('\x1b[3;10H')).toBe(true);
  });
  it('finds the consoles in /proc/consoles; tty0 is the visible virtual terminal', () => {
    expect(consoleDevices('tty0                 -WU (E  p  )    4:1\nttyS0                -W- (EC p a)    4:64\n')).toEqual(['/dev/tty1', '/dev/ttyS0']);
  });
});

describe('disks of this machine', () => {
  it('reads /sys/block, skips loops, CD drives and RAM disks, and sees data', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nr-disks-'));
    try {
      const sys = join(root, 'sys');
      const dev = join(root, 'dev');
      mkdirSync(dev);
      const add = (name: string, sectors: number, head?: Buffer, model = '') => {
        mkdirSync(join(sys, name, 'device'), { recursive: true });
        writeFileSync(join(sys, name, 'size'), `${sectors}\n`);
        writeFileSync(join(sys, name, 'removable'), '0\n');
        writeFileSync(join(sys, name, 'device/model'), `${model}\n`);
        writeFileSync(join(dev, name), head ?? Buffer.alloc(4096));
      };
      const mbr = Buffer.alloc(4096);
      mbr[510] = 0x55;
      mbr[511] = 0xaa;
      mbr.writeUInt8(0x83, 446 + 4);
      mbr.writeUInt32LE(2048, 446 + 8);
      mbr.writeUInt32LE(4096, 446 + 12);
      add('sda', 2 * 1024 * 1024, mbr, 'PERC H730');
      add('vdb', 1024);
      add('loop0', 1024);
      add('sr0', 1024);
      add('ram0', 1024);
      const disks = await listDisks(sys, dev);
      expect(disks.map((d) => d.name)).toEqual(['sda', 'vdb']);
      expect(disks[0]).toMatchObject({ model: 'PERC H730', size: 1024 ** 3, table: 'mbr', partitions: 1, holdsData: true });
      expect(diskWarning(disks[0]!)).toBe('holds data: MBR table with 1 partition');
      expect(diskWarning(disks[1]!)).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** A terminal that types the given keys, one burst per key() call, and keeps what was drawn. */
function scripted(keys: string[]): Terminal & { screens: string[][] } {
  const screens: string[][] = [];
  return {
    screens,
    draw: (l) => void screens.push(l),
    key: () => (keys.length ? Promise.resolve(keys.shift()!) : new Promise(() => {})),
    close: () => {},
  };
}

function deps(term: Terminal, o: Partial<ConsoleDeps> & { jobs?: (RestoreJob | CaptureJob)[] } = {}): ConsoleDeps {
  const jobs = o.jobs ?? [];
  let t = 0;
  return {
    term,
    host: HOST,
    params: { server: 'http://10.0.0.1:8080', token: 't', mode: 'menu', image: undefined, task: undefined, disk: undefined },
    images: async () => [image('web-01'), image('db-01')],
    disks: async () => [disk('sda', { holdsData: true, table: 'gpt', partitions: 2 }), disk('sdb')],
    restore: async (j) => {
      jobs.push(j);
      j.onProgress?.({ phase: 'restore', done: 1, total: 2 });
      return { image: j.image, target: j.target, seconds: 12, bytesTotal: 100, bytesFetched: 50, bytesWritten: 50, chunksSkipped: 1, chunksWritten: 1, chunksFree: 0, verified: true, gptRelocated: false, grown: false, minimalForm: false } satisfies RestoreSummary;
    },
    capture: async (j) => {
      jobs.push(j);
      return { image: j.name, source: j.source, seconds: 3, bytesTotal: 10, bytesUploaded: 5, chunksUploaded: 1, chunksSkipped: 1, manifest: { warnings: [] } as unknown as Manifest };
    },
    now: () => (t += 1000),
    sleep: async () => {},
    ...o,
  };
}

describe('console session', () => {
  it('interactive restore: image, disk, a wrong name goes back, the right name restores, Enter reboots', async () => {
    const term = scripted(['2\r', '1\r', 'sdb\r', '1\r', 'sda\r', '\r']);
    const jobs: RestoreJob[] = [];
    const exit = await runConsole(deps(term, { jobs }));
    expect(exit).toBe('reboot');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ image: 'db-01', target: '/dev/sda' });
    const text = term.screens.map((s) => s.join('\n')).join('\n');
    expect(text).toContain('Restore db-01: which disk?');
    expect(text).toContain('DONE: db-01 restored to /dev/sda');
    expect(text).toContain('Verified: the disk was read back');
    expect(text).toContain('Remove the network boot or press Enter to reboot');
  });

  it('keys typed in one burst (a paste, a serial line) count one by one; backspace edits', async () => {
    const term = scripted(['1\r1\rsdx\x7fa\r\r']);
    const jobs: RestoreJob[] = [];
    expect(await runConsole(deps(term, { jobs }))).toBe('reboot');
    expect(jobs[0]).toMatchObject({ image: 'web-01', target: '/dev/sda' });
  });

  it('an unattended task asks nothing, reports its task, and reboots after the countdown', async () => {
    const term = scripted([]);
    const jobs: RestoreJob[] = [];
    const d = deps(term, { jobs, disks: async () => [disk('vda')] });
    d.params = { ...d.params, mode: 'restore', image: 'web-01', task: 9 };
    expect(await runConsole(d)).toBe('reboot');
    expect(jobs[0]).toMatchObject({ image: 'web-01', target: '/dev/vda', task: 9 });
    expect(await jobs[0]!.confirm(image('web-01') as Manifest, 1, 'data')).toBe(true);
    expect(term.screens.some((s) => s.at(-1)!.includes('Rebooting in 1 s'))).toBe(true);
  });

  it('a failed job shows the reason and Enter gives the restore shell', async () => {
    const term = scripted(['1\r', '2\r', 'sdb\r', '\r']);
    const d = deps(term, { restore: async () => Promise.reject(new Error('image web-01: chunk 3 failed its check twice: the image on the server is damaged')) });
    expect(await runConsole(d)).toBe('shell');
    const last = term.screens.at(-1)!.join(' ').replace(/\s+/g, ' ');
    expect(last).toContain('FAILED: Restoring web-01 to /dev/sdb');
    expect(last).toContain('the image on the server is damaged');
  });

  it('capture: disk, a bad name is refused with a reason, a good one captures', async () => {
    const term = scripted(['c\r', '2\r', 'bad name\r', 'web-02\r', '\r']);
    const jobs: CaptureJob[] = [];
    expect(await runConsole(deps(term, { jobs }))).toBe('reboot');
    expect(jobs[0]).toMatchObject({ name: 'web-02', source: '/dev/sdb' });
    expect(term.screens.map((s) => s.join('\n')).join('\n')).toContain('bad name is not a valid name');
  });

  it('capture progress shows the label of its phase, not its raw word', async () => {
    const term = scripted(['c\r', '1\r', 'web-03\r', '\r']);
    const d = deps(term);
    const job = d.capture;
    d.capture = async (j) => {
      j.onProgress?.({ phase: 'capture', done: 1, total: 2 });
      return job(j);
    };
    expect(await runConsole(d)).toBe('reboot');
    const phases = term.screens.flat().filter((l) => l.startsWith(' Phase '));
    expect(phases.length).toBeGreaterThan(0);
    for (const l of phases) expect(l).toBe(` Phase     ${PHASE_LABELS.capture}`);
  });
});
