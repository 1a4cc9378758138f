import { describe, expect, it } from 'vitest';
import { loadOrder, ROOT_LINE } from '../../src/drill/linux-disk.ts';
import { summaryLine, type DrillResult } from '../../src/drill/report.ts';

const DEP = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;

describe("the Linux disk's initramfs modules", () => {
  it('loads each module after what it needs, each once; built-in ones are skipped', () => {
    const order = loadOrder(['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4'], DEP);
    expect(order).toEqual([
      'kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
      'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
      'kernel/drivers/virtio/virtio_pci.ko',
      'kernel/drivers/block/virtio_blk.ko',
      'kernel/fs/jbd2/jbd2.ko',
      'kernel/fs/mbcache.ko',
      'kernel/lib/crc16.ko',
      'kernel/fs/ext4/ext4.ko',
    ]);
    for (const [i, p] of order.entries()) {
      const needs = DEP.split('\n').find((l) => l.startsWith(`${p}:`))!.split(':')[1]!.trim().split(/\s+/).filter(Boolean);
      for (const n of needs) expect(order.indexOf(n), `${n} before ${p}`).toBeLessThan(i);
    }
  });
});

describe('the summary of a grow drill', () => {
  const phase = (name: string, ok = true) => ({ name, seconds: 1.5, ok, ...(ok ? {} : { error: `${name} went wrong` }) });
  const base: DrillResult = { ok: true, kind: 'grow', image: 'drill-linux-ext4', firmware: 'bios', mode: 'full', phases: ['network', 'pxe-to-agent', 'restore', 'boot-restored-disk', 'root-fills-disk', 'fsck'].map((n) => phase(n)), bytes: 64 * 1024 * 1024, milestones: {}, console: '' };
  it('says the root fills the disk and fsck is clean', () => {
    expect(summaryLine(base)).toBe('drill drill-linux-ext4 bios/full grow: PASS: PXE to agent 1.5 s, restore 1.5 s (64.0 MiB, 42.7 MiB/s), boot of the restored disk 1.5 s, the root fills the larger disk, fsck clean');
  });
  it('says which check failed', () => {
    const r = { ...base, ok: false, phases: [...base.phases.slice(0, 4), phase('root-fills-disk', false)] };
    expect(summaryLine(r)).toBe('drill drill-linux-ext4 bios/full grow: FAIL: PXE to agent 1.5 s, restore 1.5 s (64.0 MiB, 42.7 MiB/s), boot of the restored disk 1.5 s, the root did NOT fill the larger disk: root-fills-disk went wrong');
  });
});

describe('the restored root\'s line on the serial console', () => {
  it('matches only once the line has ended, so a read that stops mid-line is not taken for the answer', () => {
    expect(ROOT_LINE.exec('NETRESTORE-ROOT-BYTES=1234 FILES=o')).toBeNull();
    expect(ROOT_LINE.exec('NETRESTORE-ROOT-BYTES=12')).toBeNull();
    const m = ROOT_LINE.exec('boot\r\nNETRESTORE-ROOT-BYTES=133169152 FILES=ok\r\n[ 5.1] reboot');
    expect(m?.[0]).toBe('NETRESTORE-ROOT-BYTES=133169152 FILES=ok');
    expect([m?.[1], m?.[2]]).toEqual(['133169152', 'ok']);
  });
});
