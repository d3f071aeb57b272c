/**
 * The SBOM of a final filesystem as an SPDX 2.3 document, the kind BuildKit attaches with
 * `--sbom` (its scanner is syft): the packages dpkg, apk and npm say are installed. Every path is
 * resolved inside the unpacked root (image/safe-path.ts): an image's symlinks cannot point the
 * scanner at host files.
 */
import { randomUUID } from 'node:crypto';
import { lstatSync, readFileSync } from 'node:fs';
import { resolveInRoot } from '../image/safe-path.js';
import { sha256 } from '../image/digest.js';
import { walkContext } from './context.js';

/** One installed package. */
export interface FoundPackage {
  name: string;
  version: string;
  /** `deb`, `apk` or `npm`. */
  ecosystem: 'deb' | 'apk' | 'npm';
  purl: string;
  /** Where the fact came from (SPDX sourceInfo). */
  source: string;
  license?: string;
  supplier?: string;
}

/** A database file larger than this is not read (a real dpkg status is a few MiB). */
const MAX_DB_BYTES = 64 * 1024 * 1024;
/** package.json files larger than this are skipped. */
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;

/** The text of an in-root file, or undefined when it is missing, not a regular file or too large. */
function readInRoot(root: string, path: string, limit: number): string | undefined {
  const p = resolveInRoot(root, path);
  if (!p.exists || p.blocked) return undefined;
  const st = lstatSync(p.host, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size > limit) return undefined;
  return readFileSync(p.host, 'utf8');
}

/** Debian's `/etc/os-release` ID and VERSION_ID, for purl's distro qualifier. */
function distro(root: string): { id: string; version: string } | undefined {
  const text = readInRoot(root, '/etc/os-release', 64 * 1024);
  if (!text) return undefined;
  const field = (k: string): string | undefined => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1];
  const id = field('ID');
  return id ? { id, version: field('VERSION_ID') ?? '' } : undefined;
}

/** Stanzas of a deb822-style file (dpkg status, apk's installed db uses one-letter keys the same way). */
function stanzas(text: string, sep: RegExp): Array<Map<string, string>> {
  return text
    .split(/\n\s*\n/)
    .map((block) => {
      const fields = new Map<string, string>();
      let last: string | undefined;
      for (const line of block.split('\n')) {
        if (/^\s/.test(line) && last) {
          fields.set(last, `${fields.get(last)}\n${line.trim()}`);
          continue;
        }
        const m = sep.exec(line);
        if (m) fields.set((last = m[1]!), m[2]!.trim());
      }
      return fields;
    })
    .filter((f) => f.size > 0);
}

export function dpkgPackages(root: string): FoundPackage[] {
  const text = readInRoot(root, '/var/lib/dpkg/status', MAX_DB_BYTES);
  if (!text) return [];
  const os = distro(root);
  const qualifiers = (arch: string): string => {
    const q = [`arch=${encodeURIComponent(arch)}`];
    if (os) q.push(`distro=${encodeURIComponent(`${os.id}-${os.version}`)}`);
    return q.join('&');
  };
  return stanzas(text, /^([A-Za-z0-9-]+):(.*)$/)
    .filter((f) => f.get('Package') && f.get('Version') && /\binstalled$/.test(f.get('Status') ?? ''))
    .map((f) => {
      const name = f.get('Package')!;
      const version = f.get('Version')!;
      const arch = f.get('Architecture') ?? 'all';
      return {
        name,
        version,
        ecosystem: 'deb' as const,
        purl: `pkg:deb/${os?.id ?? 'debian'}/${encodeURIComponent(name)}@${encodeURIComponent(version)}?${qualifiers(arch)}`,
        source: 'acquired package info from DPKG DB: /var/lib/dpkg/status',
        ...(f.get('Maintainer') ? { supplier: `Person: ${f.get('Maintainer')}` } : {}),
      };
    });
}

export function apkPackages(root: string): FoundPackage[] {
  const text = readInRoot(root, '/lib/apk/db/installed', MAX_DB_BYTES);
  if (!text) return [];
  const os = distro(root);
  return stanzas(text, /^([A-Za-z]):(.*)$/)
    .filter((f) => f.get('P') && f.get('V'))
    .map((f) => {
      const name = f.get('P')!;
      const version = f.get('V')!;
      const q = [`arch=${encodeURIComponent(f.get('A') ?? 'noarch')}`];
      if (f.get('o')) q.push(`upstream=${encodeURIComponent(f.get('o')!)}`);
      if (os) q.push(`distro=${encodeURIComponent(`${os.id}-${os.version}`)}`);
      return {
        name,
        version,
        ecosystem: 'apk' as const,
        purl: `pkg:apk/${os?.id ?? 'alpine'}/${encodeURIComponent(name)}@${encodeURIComponent(version)}?${q.join('&')}`,
        source: 'acquired package info from APK DB: /lib/apk/db/installed',
        ...(f.get('L') ? { license: f.get('L')! } : {}),
        ...(f.get('m') ? { supplier: `Person: ${f.get('m')}` } : {}),
      };
    });
}

/** A package.json inside node_modules (the packages npm, yarn or pnpm installed). */
const NPM_PACKAGE_JSON = /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*\/package\.json$/;

export async function npmPackages(root: string): Promise<FoundPackage[]> {
  const out: FoundPackage[] = [];
  for await (const e of walkContext(root, {})) {
    if (e.type !== 'file' || !NPM_PACKAGE_JSON.test(e.path) || e.size > MAX_PACKAGE_JSON_BYTES) continue;
    const text = readInRoot(root, `/${e.path}`, MAX_PACKAGE_JSON_BYTES);
    let pkg: { name?: unknown; version?: unknown; license?: unknown };
    try {
      pkg = JSON.parse(text ?? '') as typeof pkg;
    } catch {
      continue;
    }
    if (typeof pkg.name !== 'string' || typeof pkg.version !== 'string' || pkg.name === '') continue;
    const [scope, bare] = pkg.name.startsWith('@') ? (pkg.name.split('/', 2) as [string, string]) : [undefined, pkg.name];
    out.push({
      name: pkg.name,
      version: pkg.version,
      ecosystem: 'npm',
      purl: `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ''}${encodeURIComponent(bare)}@${encodeURIComponent(pkg.version)}`,
      source: `acquired package info from installed node module manifest file: /${e.path}`,
      ...(typeof pkg.license === 'string' ? { license: pkg.license } : {}),
    });
  }
  return out;
}

export async function scanPackages(root: string): Promise<FoundPackage[]> {
  return [...dpkgPackages(root), ...apkPackages(root), ...(await npmPackages(root))];
}

/** The SPDX 2.3 JSON document of `packages` (syft's layout: DOCUMENT DESCRIBES each package). */
export function spdxDocument(packages: readonly FoundPackage[], options: { name: string; created: string; tool: string }): Record<string, unknown> {
  const ids = new Set<string>();
  const spdxId = (p: FoundPackage): string => {
    const base = `SPDXRef-Package-${p.ecosystem}-${p.name.replace(/[^A-Za-z0-9.-]/g, '-')}-${sha256(p.purl).slice('sha256:'.length, 'sha256:'.length + 16)}`;
    let id = base;
    for (let i = 2; ids.has(id); i++) id = `${base}-${i}`;
    ids.add(id);
    return id;
  };
  const rows = packages.map((p) => ({
    name: p.name,
    SPDXID: spdxId(p),
    versionInfo: p.version,
    ...(p.supplier ? { supplier: p.supplier } : { supplier: 'NOASSERTION' }),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    sourceInfo: p.source,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: p.license ?? 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl }],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: options.name,
    documentNamespace: `https://tsbuild.invalid/sbom/${encodeURIComponent(options.name)}-${randomUUID()}`,
    creationInfo: { creators: [`Tool: ${options.tool}`], created: options.created },
    packages: rows,
    relationships: rows.map((r) => ({ spdxElementId: 'SPDXRef-DOCUMENT', relatedSpdxElement: r.SPDXID, relationshipType: 'DESCRIBES' })),
  };
}
