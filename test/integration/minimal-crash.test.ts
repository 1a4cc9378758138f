/**
 * A publish killed while it makes the minimal form leaves its copy of the disk
 * (as large as the disk) in the store's tmp/; the next command that opens
 * the store removes it, and never a copy a running publish still works on.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../../src/drill/service.ts';
import { FileStore } from '../../src/images/store.ts';
import { makeDisk } from '../helpers/fs-disks.ts';

const dir = mkdtempSync(join(tmpdir(), 'nr-minimal-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const copies = (store: string) => readdirSync(join(store, 'tmp')).filter((f) => f.startsWith('minimal-'));

async function deadPid(): Promise<number> {
  const p = execa('true');
  await p;
  return p.pid!;
}

describe('minimal-form copies a crash left behind', () => {
  it('SIGKILL while the minimal form is made leaves the copy; the next `images list` removes it, and the next publish succeeds', async () => {
    const disk = await makeDisk(dir, { table: 'mbr', name: 'crash', partitions: [{ fs: 'ext4', sizeMiB: 256 }] });
    const store = join(dir, 'store');
    const p = execa(BIN, ['publish', disk.path, '--name', 'crash', '--chunk-size', '1', '--images', store, '--json'], { reject: false });
    // The copy appears once the full form is stored: kill the publish then, as a power cut would.
    let ended = false;
    void p.then(() => (ended = true));
    const t0 = Date.now();
    while (!(existsSync(join(store, 'tmp')) && copies(store).length) && Date.now() - t0 < 120_000 && !ended) await new Promise((r) => setTimeout(r, 20));
    p.kill('SIGKILL');
    const r = await p;
    expect(r.signal, `the publish ended before its minimal form was begun: ${r.stdout} ${r.stderr}`).toBe('SIGKILL');
    const left = copies(store);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^minimal-${p.pid}-crash-[0-9a-f]{8}\\.img$`));
    expect(existsSync(join(store, 'manifests/crash.json'))).toBe(false);

    const list = await execa(BIN, ['images', 'list', '--images', store], { reject: false, all: true });
    expect(list.exitCode, list.all).toBe(0);
    expect(copies(store)).toEqual([]);
    const again = await execa(BIN, ['publish', disk.path, '--name', 'crash', '--chunk-size', '1', '--images', store, '--json'], { reject: false, all: true });
    expect(again.exitCode, again.all).toBe(0);
    expect(copies(store)).toEqual([]);
  }, 300_000);

  it("keeps a running process's copy; an unnamed copy (older versions) goes unless a publish holds a lock", async () => {
    const root = join(dir, 'unit');
    mkdirSync(join(root, 'tmp'), { recursive: true });
    const dead = `minimal-${await deadPid()}-a-00000000.img`;
    const live = `minimal-${process.pid}-b-00000000.img`;
    const old = 'minimal-c-0a0b0c0d.img';
    for (const f of [dead, live, old, 'other.tmp']) writeFileSync(join(root, 'tmp', f), 'x');
    const store = new FileStore(root);
    const unlock = await store.lock('publish-c');
    expect(await store.removeStaleCopies()).toEqual([dead]);
    await unlock();
    expect(await store.removeStaleCopies()).toEqual([old]);
    expect(readdirSync(join(root, 'tmp')).sort()).toEqual([live, 'other.tmp']);
  });
});
