/**
 * The comments above each instruction, as BuildKit's parser collects them
 * (`PrevComment`): every `#` line since the previous instruction, an empty
 * `#` line starting over, parser directives left out. They carry the
 * per-instruction `# check=…` options and hadolint's `# hadolint ignore=…`.
 */
import type { Node } from './ast.js';
import { parseCheckOptions, type CheckOptions } from './directives.js';

/** Comment text (after `#`, trimmed) above each instruction, keyed by its first line. */
export function commentsAbove(text: string, root: readonly Node[], directiveLines: ReadonlySet<number>): Map<number, string[]> {
  const lines = text.split('\n');
  const out = new Map<number, string[]>();
  let from = 1;
  for (const node of root) {
    const block: string[] = [];
    for (let line = from; line < node.startLine; line++) {
      const raw = (lines[line - 1] ?? '').replace(/^\uFEFF/, '').replace(/\r$/, '').trimStart();
      if (!raw.startsWith('#') || directiveLines.has(line)) continue;
      const comment = raw.slice(1).trim();
      if (comment === '') block.length = 0;
      else block.push(comment);
    }
    if (block.length > 0) out.set(node.startLine, block);
    from = node.endLine + 1;
  }
  return out;
}

/** The first `check=…` comment of a block, as BuildKit's WithMergedConfigFromComments reads it. */
export function checkOptionsOf(comments: readonly string[] | undefined): CheckOptions | undefined {
  for (const c of comments ?? []) {
    const m = /^check\s*=\s*(.+?)\s*$/i.exec(c);
    if (!m) continue;
    try {
      return parseCheckOptions(m[1]!.split(' ')[0]!);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Rules named by `# hadolint ignore=DL3008,DL3015` comments in a block. */
export function hadolintIgnores(comments: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const c of comments ?? []) {
    const m = /^hadolint\s+ignore\s*=\s*([A-Za-z0-9_, ]+)/.exec(c);
    if (m) out.push(...m[1]!.split(',').map((r) => r.trim()).filter((r) => r !== ''));
  }
  return out;
}

/** Rules named by `# hadolint global ignore=…` anywhere in the file. */
export function hadolintGlobalIgnores(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^[ \t]*#[ \t]*hadolint[ \t]+global[ \t]+ignore[ \t]*=[ \t]*([A-Za-z0-9_, ]+)/gm)) {
    out.push(...m[1]!.split(',').map((r) => r.trim()).filter((r) => r !== ''));
  }
  return out;
}
