/**
 * Which kernel modules go into the restore environment: the drivers of the
 * network cards and disk controllers found in server rooms, and everything
 * they depend on. Pure: the kernel's modules.dep comes in as text.
 */

/** Network cards, storage controllers, buses and the filesystems the agent looks into. */
export const SERVER_MODULES: readonly string[] = [
  // virtual machines
  'virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi', 'vmxnet3', 'vmw_pvscsi', 'hv_netvsc', 'hv_storvsc', 'ena', 'xen_netfront', 'xen_blkfront',
  // network cards
  'e1000', 'e1000e', 'igb', 'igc', 'ixgbe', 'ixgbevf', 'i40e', 'iavf', 'ice', 'bnxt_en', 'tg3', 'bnx2', 'bnx2x', 'r8169', 'be2net', 'qede', 'mlx4_en', 'mlx5_core', 'sfc', 'atlantic', 'cxgb4', 'nfp',
  // disk controllers and disks
  'ahci', 'ata_piix', 'ata_generic', 'nvme', 'megaraid_sas', 'mpt3sas', 'hpsa', 'smartpqi', 'aacraid', 'sd_mod', 'sr_mod',
  // USB keyboards and sticks
  'xhci_pci', 'ehci_pci', 'ohci_pci', 'uhci_hcd', 'usb_storage', 'uas', 'usbhid', 'hid_generic',
  // what describing a disk may mount
  'ext4', 'vfat', 'nls_cp437', 'nls_iso8859_1',
  // a read-only loop device over a partition the kernel made no node for (used-block maps)
  'loop',
];

/** "kernel/drivers/usb/storage/usb-storage.ko" → "usb_storage": the kernel treats - and _ alike. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.(xz|zst|gz))?$/, '');
  return base.replace(/-/g, '_');
}

export interface ModuleSet {
  /** Paths relative to /lib/modules/VERSION, dependencies included, each once. */
  paths: string[];
  /** Asked for but built into the kernel: nothing to copy. */
  builtin: string[];
  /** Asked for but neither a module nor built in (another kernel may not have it). */
  missing: string[];
}

/** The modules asked for and their dependencies, from modules.dep and modules.builtin. */
export function resolveModules(wanted: readonly string[], modulesDep: string, modulesBuiltin: string): ModuleSet {
  const deps = new Map<string, { path: string; needs: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const needs = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    deps.set(moduleName(path), { path, needs });
  }
  const builtinNames = new Set(modulesBuiltin.split('\n').filter(Boolean).map(moduleName));
  const paths = new Set<string>();
  const builtin: string[] = [];
  const missing: string[] = [];
  for (const raw of wanted) {
    const name = raw.replace(/-/g, '_');
    const entry = deps.get(name);
    if (!entry) {
      (builtinNames.has(name) ? builtin : missing).push(name);
      continue;
    }
    // modules.dep already lists the whole closure of each module.
    paths.add(entry.path);
    for (const p of entry.needs) paths.add(p);
  }
  return { paths: [...paths].sort(), builtin, missing };
}
