/**
 * What the context-dependent lint checks need, gathered before the (pure)
 * rules run: the config of each base image (the local store first, then the
 * registry unless offline), the context's .dockerignore, the target platform.
 * Whatever cannot be had is left out; the rules then say they skipped.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readDockerignore } from '../builder/context.js';
import { findStoredImage } from '../cache/lookup.js';
import { ContentStore } from '../cache/store.js';
import { hostPlatform } from '../image/platform.js';
import type { ImageConfigFile, Manifest, Platform } from '../image/types.js';
import { defaultGlobalArgs, platformArgValues, tryExpand } from '../parser/lint.js';
import type { BaseImageFacts, LintFacts } from '../parser/lint-context.js';
import type { ParsedForLint } from '../parser/instructions.js';
import type { RegistryClient } from '../registry/client.js';
import type { NetworkTimeouts } from '../registry/http.js';
import { parseReference } from '../registry/reference.js';

export interface FactSources {
  /** Build context directory; undefined: CopyIgnoredFile is skipped. */
  contextDir?: string;
  dockerfilePath?: string;
  /** Store root to look for base images in (not created when missing). */
  storeRoot?: string;
  /** Ask registries for base images the store lacks. */
  network: boolean;
  insecureRegistries?: string[];
  timeouts?: Partial<NetworkTimeouts>;
  platform?: Platform;
}

/** The base image names a Dockerfile's FROMs give (after global ARG defaults), other than stages and scratch. */
export function baseImageNames(parsed: ParsedForLint, platform: Platform): string[] {
  const { df } = parsed;
  const globals = defaultGlobalArgs(df.globalArgs, df.escapeToken, platformArgValues(platform));
  const stageNames = new Set<string>();
  const out = new Set<string>();
  for (const s of df.stages) {
    const name = tryExpand(s.from.image, (n) => globals.get(n), df.escapeToken)?.value;
    if (name !== undefined && name !== '' && name !== 'scratch' && !stageNames.has(name.toLowerCase()) && !name.includes('://')) out.add(name);
    if (s.name !== undefined) stageNames.add(s.name);
  }
  return [...out];
}

function factsOf(config: ImageConfigFile): BaseImageFacts {
  return {
    env: config.config?.Env ?? [],
    platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
  };
}

async function fromStore(store: ContentStore, name: string): Promise<BaseImageFacts | undefined> {
  try {
    const found = await findStoredImage(store, name);
    if (!found) return undefined;
    const manifest = await store.readJSON<Manifest>(found.desc.digest);
    return factsOf(await store.readJSON<ImageConfigFile>(manifest.config.digest));
  } catch {
    return undefined;
  }
}

async function fromRegistry(client: RegistryClient, name: string): Promise<BaseImageFacts | undefined> {
  try {
    const img = await client.getImage(parseReference(name));
    return factsOf(await img.configFile());
  } catch {
    return undefined;
  }
}

export async function gatherFacts(parsed: ParsedForLint, src: FactSources): Promise<LintFacts> {
  const platform = src.platform ?? hostPlatform();
  const names = baseImageNames(parsed, platform);
  const root = src.storeRoot === undefined ? undefined : resolve(src.storeRoot);
  const store = root !== undefined && existsSync(join(root, 'version')) ? await ContentStore.open(root) : undefined;
  let client: Promise<RegistryClient> | undefined;
  const images = new Map<string, BaseImageFacts>();
  await Promise.all(
    names.map(async (name) => {
      let facts = store ? await fromStore(store, name) : undefined;
      if (!facts && src.network) {
        // registry/ (and undici) load only when a base image is not in the store
        client ??= import('../registry/client.js').then((m) => new m.RegistryClient({ insecureRegistries: src.insecureRegistries ?? [], platform, ...(src.timeouts ? { timeouts: src.timeouts } : {}) }));
        facts = await fromRegistry(await client, name);
      }
      if (facts) images.set(name, facts);
    }),
  );
  if (client) await (await client).close().catch(() => {});
  const facts: LintFacts = {
    baseImage: (name) => images.get(name),
    targetPlatform: { os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) },
  };
  if (src.contextDir !== undefined) facts.dockerignore = (await readDockerignore(src.contextDir, src.dockerfilePath)).patterns;
  return facts;
}
