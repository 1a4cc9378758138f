/** Names that reach a boot script or a kernel command line are checked where they enter. */
import { describe, expect, it } from 'vitest';
import { checkDiskPath, checkHostName, isDiskPath } from '../../src/shared/names.ts';
import { parseCmdline } from '../../src/restore-agent/cmdline.ts';
import { kernelCmdline } from '../../src/menus/boot-plan.ts';

describe('disk paths', () => {
  const good = ['sda', '/dev/sda', '/dev/nvme0n1', '/dev/vda', '/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z1NB0K123456X', '/dev/disk/by-id/nvme-eui.0025388b91b2e0a1', '/dev/disk/by-path/pci-0000:00:17.0-ata-1', '/dev/disk/by-id/usb-Generic_Flash_Disk_1234-0:0', '/dev/mapper/vg0-root', '/dev/md127'];
  const bad = ['', '/dev/', '/dev/sda b', '/dev/sda\nshell', '/dev/${x}', '/dev/sda;reboot', '/dev/sda||x', '/dev/sda&&x', '/dev/../etc/passwd', '/dev/disk/../../etc', '/etc/passwd', '//dev/sda', '/dev//sda', '/dev/sda/', 'sda#1', 'sda`id`', '/dev/sd"a', "/dev/sd'a", '/dev/sd\\a', '/dev/sda\t', `/dev/${'a'.repeat(300)}`, '/dev/sdä'];
  it('takes the names the restore environment lists', () => {
    for (const d of good) expect(isDiskPath(d), d).toBe(true);
  });
  it('refuses spaces, shell and iPXE characters, .. and paths outside /dev', () => {
    for (const d of bad) expect(isDiskPath(d), JSON.stringify(d)).toBe(false);
    expect(() => checkDiskPath('/dev/sda b')).toThrow(expect.objectContaining({ code: 'DISK_PATH' }));
  });
  it('a valid disk goes through the kernel command line and back unchanged', () => {
    for (const d of good) expect(parseCmdline(kernelCmdline({ server: { base: 'http://10.0.0.1:8080', token: 'T' }, mode: 'restore', image: 'x', disk: d })).disk).toBe(d.startsWith('/dev/') ? d : `/dev/${d}`);
  });
});

describe('host names', () => {
  it('takes ordinary names and refuses control and script characters', () => {
    for (const n of ['web01', 'Accounting PC 3', 'fs01.example.org', 'db (old)', 'a+b,c_d-e']) expect(() => checkHostName(n), n).not.toThrow();
    for (const n of ['', ' lead', 'x\ny', 'a${x}', 'a;b', 'a|b', 'a#b', 'x'.repeat(65), 'é']) expect(() => checkHostName(n), JSON.stringify(n)).toThrow(expect.objectContaining({ code: 'HOST_NAME' }));
  });
});
