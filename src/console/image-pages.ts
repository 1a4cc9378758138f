/**
 * Images: the list and each image's details (partitions, filesystems, used
 * and stored bytes, chunks shared with other images, role, description,
 * publish date, last verification and drill); verify now (in the
 * background, the result in the audit log); delete after a page that names
 * what will be lost and the name typed back; export as the tar stream of
 * `netrestore images export`.
 */
import type { RequestHandler, Response, Router } from 'express';
import { exportImage } from '../images/archive.ts';
import { removeImage, verifyImage } from '../images/maintenance.ts';
import { imageChunks, NAME_PATTERN, ROLE_WARNINGS, type Manifest } from '../shared/format.ts';
import { audit, message, permit, render, type Console } from './context.ts';
import { deleteForm, parseForm } from './forms.ts';
import { usageChanged } from './overview.ts';

type Chains = { page: RequestHandler[]; post: RequestHandler[] };

/** Per image: its distinct chunks, and how many of them another image uses too. Pure. */
export function sharing(manifests: Manifest[]): Map<string, { chunks: number; shared: number; only: string[] }> {
  const users = new Map<string, number>();
  const sets = manifests.map((m) => [m.name, new Set(imageChunks(m))] as const);
  for (const [, s] of sets) for (const h of s) users.set(h, (users.get(h) ?? 0) + 1);
  return new Map(
    sets.map(([name, s]) => {
      const only = [...s].filter((h) => users.get(h) === 1);
      return [name, { chunks: s.size, shared: s.size - only.length, only }];
    }),
  );
}

export function imagePages(router: Router, c: Console, { page, post }: Chains): void {
  const verifying = new Set<string>();

  const lastVerify = (name: string) => c.state.audit.list({ image: name, limit: 1000 }).find((e) => e.action === 'image-verify') ?? null;

  const read = async (res: Response, name: string): Promise<Manifest | undefined> => {
    const m = NAME_PATTERN.test(name) ? await c.store.readManifest(name) : undefined;
    if (!m) message(c, res, 404, 'No such image', `There is no image named ${name}.`);
    return m;
  };

  router.get('/images', ...page, async (_req, res) => {
    const manifests = await c.store.listManifests();
    const share = sharing(manifests);
    const drills = c.drills?.records.lastPerImage() ?? new Map();
    render(c, res, 'images', {
      title: 'Images',
      images: manifests.map((m) => ({ m, used: m.source.size - m.totals.free, share: share.get(m.name), drill: drills.get(m.name) ?? null, verify: lastVerify(m.name) })),
    });
  });

  router.get('/images/:name', ...page, async (req, res) => {
    const name = String(req.params.name);
    const m = await read(res, name);
    if (!m) return;
    const share = sharing(await c.store.listManifests()).get(name);
    const uses = new Map(m.partitions.map((u) => [u.index, u]));
    render(c, res, 'image', {
      title: name,
      m,
      used: m.source.size - m.totals.free,
      share,
      warning: ROLE_WARNINGS[m.role] ?? null,
      partitions: m.partitionTable.partitions.map((p) => ({ ...p, use: uses.get(p.index) ?? null })),
      verify: lastVerify(name),
      verifying: verifying.has(name),
      drill: c.drills?.records.lastPerImage().get(name) ?? null,
    });
  });

  router.post('/images/:name/verify', ...post, async (req, res) => {
    if (!permit(c, res, 'image-verify')) return;
    const name = String(req.params.name);
    const m = await read(res, name);
    if (!m) return;
    if (!verifying.has(name)) {
      verifying.add(name);
      c.log.info('console.verify-start', { image: name });
      // Minutes for a large image: the page comes back at once, the result lands in the audit log.
      void verifyImage(c.store, m)
        .then(
          (r) => (r.ok ? 'ok: every chunk and the disk checksum match' : `DAMAGED: ${r.bad.length} bad chunks${r.sha256 ? '' : ', disk checksum mismatch'}${r.bad[0] ? ` (first: chunk ${r.bad[0].index}: ${r.bad[0].reason})` : ''}`),
          (err: unknown) => `could not verify: ${(err as Error).message}`,
        )
        .then((detail) => {
          verifying.delete(name);
          audit(c, req, res, { action: 'image-verify', image: name, detail });
          c.log.info('console.verify-end', { image: name, detail });
        });
    }
    res.redirect(303, `/images/${name}`);
  });

  router.get('/images/:name/delete', ...page, async (req, res) => {
    if (!permit(c, res, 'image-remove')) return;
    const name = String(req.params.name);
    const m = await read(res, name);
    if (!m) return;
    await confirmPage(res, m);
  });

  const confirmPage = async (res: Response, m: Manifest, error?: string) => {
    const only = sharing(await c.store.listManifests()).get(m.name)?.only ?? [];
    let bytes = 0;
    for (const h of only) bytes += (await c.store.openChunk(h))?.size ?? 0;
    const waiting = c.state.hosts.list().flatMap((h) => {
      const t = c.state.tasks.current(h.mac);
      return t && t.kind === 'restore' && t.image === m.name ? [{ host: h.name || h.mac, mac: h.mac, state: t.state }] : [];
    });
    render(c, res, 'confirm-delete', { title: `Delete ${m.name}?`, m, only: only.length, bytes, waiting, error }, error ? 400 : 200);
  };

  router.post('/images/:name/delete', ...post, async (req, res) => {
    if (!permit(c, res, 'image-remove')) return;
    const name = String(req.params.name);
    const m = await read(res, name);
    if (!m) return;
    const f = parseForm(deleteForm, req.body);
    if (!f.ok || f.data.confirm.trim() !== name) return confirmPage(res, m, `Type the image name ${name} exactly to delete it. Nothing was deleted.`);
    const gone = await removeImage(c.store, name);
    usageChanged();
    audit(c, req, res, { action: 'image-remove', image: name, detail: gone.deferred ? 'chunks kept: a publish was in progress' : `${gone.chunksDeleted} chunks, ${gone.bytesFreed} bytes freed` });
    c.log.info('images.removed', { image: name, chunks: gone.chunksDeleted, bytes: gone.bytesFreed, deferred: gone.deferred, via: 'console' });
    res.redirect(303, '/images');
  });

  router.get('/images/:name/export', ...page, async (req, res) => {
    const name = String(req.params.name);
    const m = await read(res, name);
    if (!m) return;
    audit(c, req, res, { action: 'image-export', image: name, detail: 'web console download' });
    res.set({ 'content-type': 'application/x-tar', 'content-disposition': `attachment; filename="${name}.tar"` });
    await exportImage(c.store, m, res);
  });
}
