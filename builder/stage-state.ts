import type { Digest } from '../image/digest.js';
import type { Descriptor, ImageConfigFile, HistoryEntry, Platform } from '../image/types.js';
import type { FsView } from './fsview.js';

/** A layer the builder holds: always a blob in the content store. */
export interface LayerRef {
  desc: Descriptor;
  diffID: Digest;
}

/**
 * The state of one stage while its instructions are dispatched. Each op returns
 * a new state; a stage's final state is shared with the stages that read it, so
 * it is never changed. The one exception is `owned` below.
 */
export interface StageState {
  /** Name shown in progress ("builder-a", or the index). */
  label: string;
  /** What the stage is built for: FROM --platform, its parent stage's, else the build's target. */
  platform: Platform;
  layers: LayerRef[];
  /** Number of layers that came from the base image (for reports). */
  baseLayerCount: number;
  config: ImageConfigFile;
  /** ARGs declared in this stage: name → value (undefined = declared, no value). */
  args: Map<string, string | undefined>;
  /**
   * ARG values in the build environment that no later ENV replaced. BuildKit adds a valued ARG
   * to the step environment (not to the config's Env): it beats an earlier ENV of the same name
   * in RUN and in expansions, and a stage built FROM this one inherits it.
   */
  argEnv?: ReadonlyMap<string, string>;
  /** Lazily built metadata view of `layers`; undefined until first needed. */
  fs?: FsView;
  /** Digest of the base image's manifest ('scratch' for none), for cache keys and reports. */
  baseDigest: string;
  /** The base image's name when it came from a registry or the store (for cross-repo blob mounts on push). */
  baseName?: string;
  /** Dockerfile location of each config history entry (undefined for the base image's). */
  historySources?: Array<{ file: string; line: number } | undefined>;
  /** Build-cache chain key: the base's, then each step's (every earlier change reaches later keys). */
  cacheKey?: Digest;
  /** Date of the newest history entry (metadata steps reuse it, keeping rebuilds identical). */
  lastCreated?: string;
  /** CMD was set in this stage (then ENTRYPOINT keeps it; otherwise ENTRYPOINT clears an inherited CMD). */
  cmdSet?: boolean;
  /**
   * The history, historySources and Labels that this stage's own steps created.
   * Only the next step of the same stage sees them, so it extends them in place:
   * copying them per step made N metadata steps cost O(N²) (20,000 LABELs took
   * 156 s). A stage starts with an empty set, so what it inherits is copied once.
   */
  owned?: WeakSet<object>;
}

/** BuildKit's marker at the end of every created_by it writes; kept so tools that look for it find it. */
export const CREATED_BY_SUFFIX = ' # buildkit';

/** A step's result, plus what progress should say about the cache. */
export type StepOutcome = StageState & { cacheHit?: boolean; missReason?: string };

/** SHELL of the stage, or docker's default. */
export function shellOf(state: StageState): string[] {
  return state.config.config.Shell && state.config.config.Shell.length > 0 ? state.config.config.Shell : ['/bin/sh', '-c'];
}

export function envMap(config: ImageConfigFile): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of config.config.Env ?? []) {
    const i = kv.indexOf('=');
    if (i < 0) m.set(kv, '');
    else m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** Sets (or replaces, keeping its position) one variable in a config's Env list. */
export function setEnv(env: string[] | undefined, key: string, value: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((kv) => kv === key || kv.startsWith(key + '='));
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/** `config` (default the state's) with `h` appended to its history. */
export function addHistory(state: StageState, entry: HistoryEntry, config: ImageConfigFile = state.config): ImageConfigFile {
  return { ...config, history: appendOwned(state, config.history, entry) };
}

/** `list` plus `items`: in place when the stage owns `list`, else a copy that it then owns. */
export function appendOwned<T>(state: Pick<StageState, 'owned'>, list: T[] | undefined, ...items: T[]): T[] {
  if (list !== undefined && state.owned?.has(list) === true) {
    for (const item of items) list.push(item);
    return list;
  }
  const copy = [...(list ?? []), ...items];
  state.owned?.add(copy);
  return copy;
}

/** `record` with `pairs` set: in place when the stage owns it, else a copy that it then owns. */
export function assignOwned(state: Pick<StageState, 'owned'>, record: Record<string, string> | undefined, pairs: ReadonlyArray<{ key: string; value: string }>): Record<string, string> {
  const out = record !== undefined && state.owned?.has(record) === true ? record : { ...(record ?? {}) };
  state.owned?.add(out);
  for (const p of pairs) out[p.key] = p.value;
  return out;
}

export function withLayer(state: StageState, layer: LayerRef, entry: HistoryEntry): StageState {
  return {
    ...state,
    layers: [...state.layers, layer],
    config: addHistory(state, entry, { ...state.config, rootfs: { type: 'layers', diff_ids: [...state.config.rootfs.diff_ids, layer.diffID] } }),
    fs: undefined,
  };
}
