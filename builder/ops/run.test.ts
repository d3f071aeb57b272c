/**
 * RUN --mount=… as BuildKit's dockerfile frontend reads it (instructions/commands_runmount.go):
 * defaults, aliases, paths relative to WORKDIR, secrets and SSH agents that were or were not
 * given. parseMount needs only the session's maps, so this runs without a store or a runtime.
 */
import assert from 'node:assert/strict';
import type { RunMount } from '../../runtime/index.js';
import type { BuildSession } from '../session.js';
import type { StageState } from '../stage-state.js';
import { parseMount, type AbsentMount, type SecretEnv } from './run.js';

const LOC = { file: 'Dockerfile', line: 3, column: 1 };

interface Fixture {
  session: BuildSession;
  warnings: string[];
}

function fixture(o: { secrets?: Record<string, string>; ssh?: Record<string, string> } = {}): Fixture {
  const warnings: string[] = [];
  const session = {
    cacheMountIds: new Set<string>(),
    context: { dir: '/ctx', excludes: [], isContext: true },
    namedContexts: new Map([['assets', { kind: 'dir', root: { dir: '/named/assets', excludes: [], isContext: true } }]]),
    secrets: new Map(Object.entries(o.secrets ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
    ssh: new Map(Object.entries(o.ssh ?? {})),
    emit: (e: { type: string; text?: string }) => {
      if (e.type === 'message' && e.text) warnings.push(e.text);
    },
  } as unknown as BuildSession;
  return { session, warnings };
}

const STATE = { label: 'build', config: { config: { WorkingDir: '/work' } } } as unknown as StageState;

async function parse(spec: string, f = fixture(), secretEnv: SecretEnv = { values: [], names: [] }): Promise<RunMount | AbsentMount | undefined> {
  return parseMount(f.session, spec, STATE, LOC, secretEnv);
}

describe('builder/ops/run: parseMount (RUN --mount)', () => {
  const table: Array<{ spec: string; want: Partial<RunMount> & Record<string, unknown> }> = [
    { spec: 'type=cache,target=/root/.cache', want: { type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'shared', readonly: false } },
    { spec: 'type=cache,target=cache,id=pip,sharing=locked,mode=0700,uid=1000', want: { type: 'cache', target: '/work/cache', id: 'pip', sharing: 'locked', mode: 0o700, uid: 1000 } },
    { spec: 'type=cache,dst=/c,ro', want: { type: 'cache', target: '/c', readonly: true } },
    { spec: 'target=/src', want: { type: 'bind', target: '/src', source: '/', from: { hostDir: '/ctx' }, readwrite: false } },
    { spec: 'type=bind,source=app,destination=/app,rw', want: { type: 'bind', target: '/app', source: 'app', readwrite: true } },
    { spec: 'type=bind,src=x,target=/x,readwrite=false', want: { type: 'bind', source: 'x', readwrite: false } },
    { spec: 'type=bind,from=assets,target=/a', want: { type: 'bind', target: '/a', from: { hostDir: '/named/assets' } } },
    { spec: 'type=tmpfs,target=/tmp', want: { type: 'tmpfs', target: '/tmp', size: undefined } },
    { spec: 'type=tmpfs,target=/tmp,size=64m', want: { type: 'tmpfs', size: 64 * 1024 * 1024 } },
    { spec: 'type=tmpfs,target=/tmp,size=512', want: { type: 'tmpfs', size: 512 } },
    { spec: '"type=cache","target=/a,b"', want: { type: 'cache', target: '/a,b' } },
    { spec: 'TYPE=cache,Target=/k', want: { type: 'cache', target: '/k' } },
  ];
  for (const c of table) {
    it(`${c.spec} → ${JSON.stringify(c.want)}`, async () => {
      const m = (await parse(c.spec)) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(m[k], v, k);
    });
  }

  it('a cache mount records its id for --cache-to …,cache-mounts=true', async () => {
    const f = fixture();
    await parse('type=cache,target=/a', f);
    await parse('type=cache,target=/b,id=shared', f);
    assert.deepEqual([...f.session.cacheMountIds].sort(), ['/a', 'shared']);
  });

  const errors: Array<{ spec: string; message: RegExp }> = [
    { spec: 'type=cache', message: /cache mount needs a target/ },
    { spec: 'type=bind', message: /bind mount needs a target/ },
    { spec: 'type=tmpfs', message: /tmpfs mount needs a target/ },
    { spec: 'type=secret', message: /secret mount needs an id or a target/ },
    { spec: 'type=cache,target=/c,sharing=everyone', message: /invalid cache sharing mode everyone/ },
    { spec: 'type=volume,target=/v', message: /unsupported mount type "volume"/ },
  ];
  for (const c of errors) {
    it(`${c.spec} is a usage error with the line`, async () => {
      await assert.rejects(parse(c.spec), (e: unknown) => {
        const err = e as { code?: string; message: string; loc?: { line: number } };
        assert.equal(err.code, 'TSB_BUILD_USAGE');
        assert.match(err.message, c.message);
        assert.equal(err.loc?.line, 3);
        return true;
      });
    });
  }

  it('a given secret is a file under /run/secrets/<id>, mode 0400, or where target says', async () => {
    const f = fixture({ secrets: { token: 's3cret' } });
    const m = (await parse('type=secret,id=token', f)) as Extract<RunMount, { type: 'secret' }>;
    assert.equal(m.target, '/run/secrets/token');
    assert.equal(m.mode, 0o400);
    assert.equal(m.data.toString(), 's3cret');
    const byTarget = (await parse('type=secret,target=/etc/token,mode=0440', f)) as Extract<RunMount, { type: 'secret' }>;
    assert.equal(byTarget.target, '/etc/token');
    assert.equal(byTarget.mode, 0o440);
    assert.equal(byTarget.data.toString(), 's3cret', 'the id defaults to the target basename');
  });

  it('secret env=: the value goes to the environment and no file is mounted; the name enters the key either way', async () => {
    const given: SecretEnv = { values: [], names: [] };
    assert.equal(await parse('type=secret,id=token,env=TOKEN', fixture({ secrets: { token: 'v' } }), given), undefined);
    assert.deepEqual(given, { values: ['TOKEN=v'], names: ['TOKEN'] });
    const absent: SecretEnv = { values: [], names: [] };
    assert.equal(await parse('type=secret,id=token,env=TOKEN', fixture(), absent), undefined);
    assert.deepEqual(absent, { values: [], names: ['TOKEN'] });
  });

  it('a missing secret: a warning and a key as if it were there; required=true makes it an error', async () => {
    const f = fixture();
    const m = await parse('type=secret,id=npmrc', f);
    assert.deepEqual(m, { absentKey: { type: 'secret', target: '/run/secrets/npmrc', mode: 0o400, uid: null, gid: null } });
    assert.match(f.warnings.join('\n'), /secret npmrc was not provided/);
    await assert.rejects(parse('type=secret,id=npmrc,required=true'), /secret npmrc is required but was not provided/);
    await assert.rejects(parse('type=secret,id=npmrc,required'), /is required/);
  });

  it('ssh: the agent socket at the default target, SSH_AUTH_SOCK set; a missing agent warns, or fails when required', async () => {
    const env: SecretEnv = { values: [], names: [] };
    const m = (await parse('type=ssh', fixture({ ssh: { default: '/run/agent.sock' } }), env)) as Extract<RunMount, { type: 'ssh' }>;
    assert.deepEqual({ target: m.target, socketPath: m.socketPath, mode: m.mode }, { target: '/run/buildkit/ssh_agent.0', socketPath: '/run/agent.sock', mode: 0o600 });
    assert.deepEqual(env, { values: ['SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0'], names: ['SSH_AUTH_SOCK'] });
    const f = fixture();
    assert.deepEqual(await parse('type=ssh,id=gh,target=/s', f), { absentKey: { type: 'ssh', target: '/s' } });
    assert.match(f.warnings.join('\n'), /ssh agent gh was not provided/);
    await assert.rejects(parse('type=ssh,required=true'), /no SSH agent for id default/);
  });
});
