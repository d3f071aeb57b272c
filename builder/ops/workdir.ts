import { posix } from 'node:path';
import { createTarStream } from '../../image/tar/writer.js';
import { resolveOwner } from '../passwd.js';
import type { BuildSession } from '../session.js';
import { addHistory, CREATED_BY_SUFFIX, withLayer, type StageState } from '../stage-state.js';
import { chainMeta } from '../step-cache.js';

/** WORKDIR: sets the config and creates the directory (a layer) when it does not exist yet. */
export async function workdir(session: BuildSession, state: StageState, path: string, created: string | undefined): Promise<StageState> {
  const cur = state.config.config.WorkingDir || '/';
  const wd = posix.resolve(cur, path);
  const view = await session.views.fsView(state.layers);
  const exists = view.get(wd)?.type === 'dir';
  let next: StageState = { ...state, config: { ...state.config, config: { ...state.config.config, WorkingDir: wd } } };
  if (exists || wd === '/') {
    return { ...next, config: addHistory(next, { ...(created ? { created } : {}), created_by: `WORKDIR ${wd}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0', empty_layer: true }) };
  }
  let owner = { uid: 0, gid: 0 };
  const user = state.config.config.User;
  if (user) owner = await ownerOf(session, state, user);
  const entries = [];
  const real = view.resolvePath(wd, true) ?? wd.slice(1);
  let acc = '';
  for (const part of real.split('/').filter(Boolean)) {
    acc = acc ? `${acc}/${part}` : part;
    const existing = view.existingDirHeader(acc, session.epoch ?? 0);
    if (existing) {
      entries.push({ header: existing });
      continue;
    }
    entries.push({ header: { path: acc, type: 'dir' as const, mode: 0o755, uid: owner.uid, gid: owner.gid, size: 0, mtime: session.epoch ?? 0 } });
  }
  const layer = await session.store.ingestLayer(createTarStream(entries));
  const ref = { desc: layer.desc, diffID: layer.diffID };
  next = withLayer(next, ref, { ...(created ? { created } : {}), created_by: `WORKDIR ${wd}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0' });
  // The directory layer is part of the filesystem later steps build on.
  next = { ...next, cacheKey: chainMeta(state, { kind: 'workdir', diffID: ref.diffID }) };
  const nextView = view.clone();
  nextView.applyEntries(entries.map((e) => e.header), next.layers.length - 1);
  session.views.setFsView(next.layers, nextView);
  return next;
}

export async function ownerOf(session: BuildSession, state: StageState, spec: string): Promise<{ uid: number; gid: number }> {
  if (/^\d+(:\d*)?$/.test(spec)) return resolveOwner(spec, undefined, undefined);
  const passwd = (await session.views.readFile(state.layers, '/etc/passwd'))?.toString('utf8');
  const group = (await session.views.readFile(state.layers, '/etc/group'))?.toString('utf8');
  return resolveOwner(spec, passwd, group, (what, name) =>
    session.emit({ type: 'message', level: 'warn', text: `${what} ${name} is not in the image's /etc/${what === 'user' ? 'passwd' : 'group'}: using ${what === 'user' ? 'uid 0' : "the user's gid"}, as BuildKit does` }),
  );
}

