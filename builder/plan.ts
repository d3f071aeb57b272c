import type { Dockerfile, Stage, Instruction } from '../parser/instructions.js';
import { didYouMean } from '../parser/suggest.js';
import { BuildUsageError, type SourceLocation } from './errors.js';
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
  /** Stages this one reads from (FROM, COPY --from, RUN --mount from=), with where it first reads each. */
  deps: Map<number, ReadSite>;
}

/** The instruction that makes a stage read another: for the error that names a cycle. */
export interface ReadSite {
  loc: SourceLocation;
  text: string;
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
 * reachable stages from the target → a dependency-first order. A cycle is an
 * error here, before anything runs: a stage that waits for itself would
 * otherwise leave nothing pending, and the process would exit without a result.
 */
export function planBuild(
  df: Dockerfile,
  globalArgs: Map<string, string | undefined>,
  opts: { target?: string; namedContexts: ReadonlySet<string> },
): BuildPlan {
  if (df.stages.length === 0) throw new BuildUsageError('the Dockerfile has no FROM instruction');
  const lookup = (n: string): string | undefined => globalArgs.get(n);
  const stages: PlannedStage[] = df.stages.map((stage) => ({ stage, base: { kind: 'scratch' }, deps: new Map() }));

  stages.forEach((p, i) => {
    const image = expand(p.stage.from.image, lookup, df.escapeToken);
    if (image === '') {
      throw new BuildUsageError('base name (' + p.stage.from.image + ') should not be blank', locOf(p.stage.from));
    }
    p.base = resolveSource(df, image, { namedContexts: opts.namedContexts, reader: i, isFrom: true }, locOf(p.stage.from));
    if (p.base.kind === 'stage') p.deps.set(p.base.index, siteOf(p.stage.from));
    for (const ins of p.stage.instructions) {
      for (const from of fromsOf(ins)) {
        const src = resolveSource(df, expand(from, lookup, df.escapeToken), { namedContexts: opts.namedContexts, reader: i, isFrom: false }, locOf(ins));
        if (src.kind === 'stage' && !p.deps.has(src.index)) p.deps.set(src.index, siteOf(ins));
      }
    }
  });
  // Every stage, as BuildKit: a cycle is an error even outside the target's reach.
  for (let i = 0; i < stages.length; i++) {
    const cycle = findCycle(stages, i);
    if (cycle) throw cycleError(df, stages, cycle);
  }

  let target = stages.length - 1;
  if (opts.target !== undefined) {
    target = df.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
    if (target < 0) {
      const names = df.stages.map((s) => s.name).filter((n): n is string => !!n);
      throw new BuildUsageError(`target stage "${opts.target}" could not be found${didYouMean(opts.target, names)}`);
    }
  }

  const order: number[] = [];
  const done = new Set<number>();
  const visit = (i: number): void => {
    if (done.has(i)) return;
    done.add(i);
    for (const d of stages[i]!.deps.keys()) visit(d);
    order.push(i);
  };
  visit(target);
  return { stages, target, order };
}

/**
 * What a FROM, COPY --from or RUN --mount from= names: a named context, a
 * stage, scratch or an image. As BuildKit: FROM sees only the stages before
 * it (`FROM x AS x` is the image x), --from every stage, itself included
 * (which planBuild then reports as a cycle).
 */
export function resolveSource(
  df: Dockerfile,
  name: string,
  options: { namedContexts: ReadonlySet<string>; reader: number; isFrom: boolean },
  loc?: SourceLocation,
): SourceRef {
  if (options.namedContexts.has(name)) return { kind: 'context', name };
  const lower = name.toLowerCase();
  const byName = df.stages.findIndex((s, i) => s.name === lower && (!options.isFrom || i < options.reader));
  if (byName >= 0) return { kind: 'stage', index: byName };
  if (!options.isFrom && /^\d+$/.test(name)) {
    const i = Number(name);
    if (i >= df.stages.length) throw new BuildUsageError(`invalid stage index ${i} (the Dockerfile has ${df.stages.length} stages)`, loc);
    return { kind: 'stage', index: i };
  }
  if (name === 'scratch') return { kind: 'scratch' };
  return { kind: 'image', ref: name };
}

/**
 * A dependency found while building (an ONBUILD trigger's --from, or a --from
 * that only stage ARGs resolve): added to the plan unless it closes a cycle.
 */
export function addDependency(plan: BuildPlan, df: Dockerfile, reader: number, source: number, by: ReadSite): void {
  const deps = plan.stages[reader]!.deps;
  if (deps.has(source)) return;
  deps.set(source, by);
  const cycle = findCycle(plan.stages, reader);
  if (cycle) {
    deps.delete(source);
    throw cycleError(df, plan.stages, cycle);
  }
}

/** A dependency path from `start` back to itself, or undefined. */
function findCycle(stages: PlannedStage[], start: number): number[] | undefined {
  const seen = new Set<number>();
  const walk = (i: number, path: number[]): number[] | undefined => {
    for (const d of stages[i]!.deps.keys()) {
      if (d === start) return [...path, d];
      if (seen.has(d)) continue;
      seen.add(d);
      const found = walk(d, [...path, d]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}

/** Names the stages of the cycle and points at the instruction that closes it. */
function cycleError(df: Dockerfile, stages: PlannedStage[], cycle: number[]): BuildUsageError {
  const name = (i: number): string => df.stages[i]?.name ?? `stage-${i}`;
  const closing = stages[cycle.at(-2)!]!.deps.get(cycle.at(-1)!)!;
  return new BuildUsageError(`circular dependency detected on stage: ${cycle.map(name).join(' -> ')} (${closing.text})`, closing.loc, { cycle: cycle.map(name) });
}

function siteOf(ins: Instruction | Stage['from']): ReadSite {
  return { loc: locOf(ins), text: ins.original.split('\n')[0] ?? '' };
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
