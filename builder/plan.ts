import type { Dockerfile, Stage, Instruction } from '../parser/instructions.js';
import { didYouMean } from '../parser/suggest.js';
import { BuildUsageError } from './errors.js';
import { expand } from './vars.js';

/** Where a stage, COPY --from or RUN --mount from= takes its files. */
export type SourceRef =
  | { kind: 'stage'; index: number }
  | { kind: 'context'; name: string }
  | { kind: 'image'; ref: string }
  | { kind: 'scratch' };

export interface PlannedStage {
  stage: Stage;
  /** FROM, resolved with the global ARGs. */
  base: SourceRef;
  /** Stages this one reads from (FROM, COPY --from, RUN --mount from=). */
  deps: Set<number>;
}

export interface BuildPlan {
  stages: PlannedStage[];
  /** Index of the stage whose result is the build's result. */
  target: number;
  /** Stages the target needs, in an order where every dependency comes first. */
  order: number[];
}

/**
 * Phases as in BuildKit's converter: stage dependency graph → cycle check →
 * reachable stages from the target → a dependency-first order.
 */
export function planBuild(
  df: Dockerfile,
  globalArgs: Map<string, string | undefined>,
  opts: { target?: string; namedContexts: ReadonlySet<string> },
): BuildPlan {
  if (df.stages.length === 0) throw new BuildUsageError('the Dockerfile has no FROM instruction');
  const lookup = (n: string): string | undefined => globalArgs.get(n);
  const stages = df.stages.map((stage) => ({ stage, base: undefined as unknown as SourceRef, deps: new Set<number>() }));

  const resolve = (name: string, self: number, allowImage: boolean): SourceRef => {
    const lower = name.toLowerCase();
    if (opts.namedContexts.has(name)) return { kind: 'context', name };
    const byName = df.stages.findIndex((s, i) => i !== self && s.name === lower);
    if (byName >= 0) return { kind: 'stage', index: byName };
    if (/^\d+$/.test(name)) {
      const i = Number(name);
      if (i >= df.stages.length) throw new BuildUsageError(`stage index ${i} out of range (${df.stages.length} stages)`);
      if (i === self) throw new BuildUsageError(`stage ${i} cannot read from itself`);
      return { kind: 'stage', index: i };
    }
    if (name === 'scratch') return { kind: 'scratch' };
    if (!allowImage) throw new BuildUsageError(`unknown stage or context: ${name}`);
    return { kind: 'image', ref: name };
  };

  stages.forEach((p, i) => {
    const image = expand(p.stage.from.image, lookup, df.escapeToken);
    if (image === '') {
      throw new BuildUsageError('base name (' + p.stage.from.image + ') should not be blank', locOf(p.stage.from));
    }
    p.base = resolve(image, i, true);
    if (p.base.kind === 'stage') p.deps.add(p.base.index);
    for (const ins of p.stage.instructions) {
      for (const from of fromsOf(ins)) {
        const src = resolve(expand(from, lookup, df.escapeToken), i, true);
        if (src.kind === 'stage') p.deps.add(src.index);
      }
    }
  });

  let target = stages.length - 1;
  if (opts.target !== undefined) {
    target = df.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
    if (target < 0) {
      const names = df.stages.map((s) => s.name).filter((n): n is string => !!n);
      throw new BuildUsageError(`target stage "${opts.target}" could not be found${didYouMean(opts.target, names)}`);
    }
  }

  const order: number[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number, path: number[]): void => {
    const s = state.get(i);
    if (s === 'done') return;
    if (s === 'visiting') {
      const names = [...path, i].map((j) => df.stages[j]?.name ?? String(j));
      throw new BuildUsageError(`circular dependency detected on stage: ${names.join(' -> ')}`);
    }
    state.set(i, 'visiting');
    for (const d of stages[i]!.deps) visit(d, [...path, i]);
    state.set(i, 'done');
    order.push(i);
  };
  visit(target, []);
  return { stages, target, order };
}

/** Every place an instruction names another stage or image to read from. */
export function fromsOf(ins: Instruction): string[] {
  if ((ins.kind === 'copy' || ins.kind === 'add') && ins.from !== undefined) return [ins.from];
  if (ins.kind === 'run') {
    const out: string[] = [];
    for (const m of ins.mounts) {
      for (const part of m.split(',')) {
        const [k, v] = part.split('=', 2);
        if (k?.trim().toLowerCase() === 'from' && v) out.push(v.trim());
      }
    }
    return out;
  }
  return [];
}

export function locOf(ins: { loc: { file: string; line: number; column: number } }): {
  file: string;
  line: number;
  column: number;
} {
  return { file: ins.loc.file, line: ins.loc.line, column: ins.loc.column };
}
