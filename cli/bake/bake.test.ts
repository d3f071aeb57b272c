import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTree, removeAll } from '../../test/helpers.js';
import { bakeFileLayers } from './bake-file.js';
import { composeToConfig, projectName } from './compose.js';
import { printable } from './config.js';
import { interpolate, parseDotenv } from './interpolate.js';
import { applyOverrides, DEFAULT_FILES, dockerfilePath, loadConfig, readConfigFiles, selectTargets, validateTargets } from './resolve.js';

const ENV: Record<string, string> = { SET: 'value', EMPTY: '' };
const lookup = (name: string): string | undefined => ENV[name];

describe('bake: compose interpolation', () => {
  const cases: Array<[string, string]> = [
    ['plain', 'plain'],
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['a-${SET}-b', 'a-value-b'],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['${UNSET}', ''],
    ['${UNSET:-def}', 'def'],
    ['${UNSET-def}', 'def'],
    ['${EMPTY:-def}', 'def'],
    ['${EMPTY-def}', ''],
    ['${SET:-def}', 'value'],
    ['${UNSET:-${SET}}', 'value'],
    ['${UNSET:-a ${UNSET2:-b} c}', 'a b c'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['price $5', 'price $5'],
    ['${SET:?must}', 'value'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${JSON.stringify(expected)}`, () => assert.equal(interpolate(input, lookup, 'test'), expected));
  }
  const errors: Array<[string, RegExp]> = [
    ['${UNSET:?is needed}', /test: required variable UNSET is missing a value: is needed/],
    ['${EMPTY:?}', /required variable EMPTY is missing a value/],
    ['${UNSET?x}', /required variable UNSET/],
    ['${', /unclosed/],
    ['${1abc}', /a variable name must start/],
    ['${SET%%x}', /invalid interpolation format/],
  ];
  for (const [input, message] of errors) {
    it(`${input} is an error`, () => assert.throws(() => interpolate(input, lookup, 'test'), message));
  }
  it('reports each unset variable', () => {
    const unset: string[] = [];
    interpolate('${A} $B ${C:-x}', lookup, 'test', (name) => unset.push(name));
    assert.deepEqual(unset, ['A', 'B']);
  });
});

describe('bake: .env files', () => {
  it('reads KEY=VALUE, export, quotes, comments and earlier variables', () => {
    const vars = parseDotenv(
      ['# comment', 'A=1', 'export B=two words', "C='${A} literal'", 'D="x\\ny ${A}"', 'E=${A}-${SET} # trailing', 'F', '', 'G='].join('\n'),
      '.env',
      lookup,
    );
    assert.deepEqual(Object.fromEntries(vars), { A: '1', B: 'two words', C: '${A} literal', D: 'x\ny 1', E: '1-value', G: '' });
  });
  it('names the line of a bad entry', () => assert.throws(() => parseDotenv('A=1\nnot a line\n', '/p/.env', lookup), /\/p\/\.env:2/));
});

describe('bake: compose files', () => {
  const file = (text: string, path = '/proj/compose.yaml') => ({ path, text });
  it('services with build become targets; names, tags, args and defaults as compose has them', () => {
    const config = composeToConfig(
      [
        file(`
services:
  api:
    build: ./api
  worker:
    image: team/worker:\${TAG:-1}
    build:
      context: .
      dockerfile: worker.Dockerfile
      target: prod
      args:
        VERSION: \${VERSION}
        FROM_ENV:
      tags: [extra/worker:latest]
      labels: [a=b]
      cache_from: [team/cache:worker]
  db:
    image: postgres
`),
      ],
      (name) => ({ VERSION: '7', FROM_ENV: 'env', COMPOSE_PROJECT_NAME: undefined })[name],
    );
    assert.deepEqual(Object.keys(config.targets), ['api', 'worker']);
    assert.deepEqual(config.groups, { default: ['api', 'worker'] });
    const api = config.targets.api!;
    assert.equal(api.context, '/proj/api');
    assert.deepEqual(api.tags, ['proj-api']);
    const worker = config.targets.worker!;
    assert.equal(worker.context, '/proj');
    assert.equal(worker.dockerfile, 'worker.Dockerfile');
    assert.equal(worker.target, 'prod');
    assert.deepEqual(worker.args, { VERSION: '7', FROM_ENV: 'env' });
    assert.deepEqual(worker.tags, ['team/worker:1', 'extra/worker:latest']);
    assert.deepEqual(worker.labels, { a: 'b' });
    assert.deepEqual(worker.cacheFrom, ['type=registry,ref=team/cache:worker']);
  });
  const names: Array<[string, string]> = [
    ['My_Project', 'my_project'],
    ['--web.app', 'webapp'],
    ['Ünï code', 'ncode'],
    ['_x-1', 'x-1'],
  ];
  for (const [raw, normalized] of names) it(`project name ${JSON.stringify(raw)} → ${normalized}`, () => assert.equal(projectName(raw), normalized));
  it('the project name comes from name:, then the directory', () => {
    assert.deepEqual(composeToConfig([file('name: Shop\nservices: {web: {build: .}}\n')], lookup).targets.web!.tags, ['shop-web']);
    assert.deepEqual(composeToConfig([file('services: {web: {build: .}}\n', '/x/My.App/compose.yaml')], lookup).targets.web!.tags, ['myapp-web']);
  });
  it('later files merge over earlier ones', () => {
    const config = composeToConfig(
      [file('services:\n  web:\n    build:\n      context: .\n      args: {A: "1", B: "1"}\n'), file('services:\n  web:\n    build:\n      args: {B: "2"}\n      target: t\n', '/proj/compose.override.yaml')],
      lookup,
    );
    assert.deepEqual(config.targets.web!.args, { A: '1', B: '2' });
    assert.equal(config.targets.web!.target, 't');
  });
  it('warns about unknown and unsupported keys and unset variables, naming them', () => {
    const config = composeToConfig([file('services:\n  web:\n    build:\n      context: .\n      colour: red\n      ulimits: {}\n      args: {A: $NOPE}\n')], lookup);
    assert.equal(config.warnings.length, 3, config.warnings.join('\n'));
    assert.match(config.warnings.join('\n'), /"NOPE" variable is not set/);
    assert.match(config.warnings.join('\n'), /services\.web\.build: unknown key "colour"/);
    assert.match(config.warnings.join('\n'), /services\.web\.build\.ulimits: not supported/);
  });
  it('build secrets from the top-level secrets:', () => {
    const config = composeToConfig([file('services:\n  web:\n    build:\n      context: .\n      secrets: [npmrc, {source: token, target: tok}]\nsecrets:\n  npmrc: {file: ./.npmrc}\n  token: {environment: TOKEN}\n')], lookup);
    assert.deepEqual(config.targets.web!.secrets, ['id=npmrc,src=/proj/.npmrc', 'id=tok,env=TOKEN']);
  });
  const bad: Array<[string, string, RegExp]> = [
    ['a list at the top', '- a\n', /compose\.yaml: a compose file must be a mapping/],
    ['a bad build', 'services: {web: {build: 3}}\n', /services\.web\.build: must be a context path or a mapping/],
    ['an undefined secret', 'services: {web: {build: {secrets: [x]}}}\n', /services\.web\.build\.secrets\[0\]: secret "x" is not defined/],
    ['bad YAML', 'services: [\n', /compose\.yaml: /],
    ['a required variable', 'services: {web: {build: {args: {A: "${NEED:?set NEED}"}}}}\n', /services\.web\.build\.args\.A: required variable NEED is missing a value: set NEED/],
    ['a YAML alias bomb', `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`, /compose\.yaml: .*(alias|Excessive)/i],
  ];
  for (const [what, text, message] of bad) it(`${what} is an error naming the file and key`, () => assert.throws(() => composeToConfig([file(text)], lookup), message));
});

describe('bake: docker-bake.json', () => {
  const bake = (json: unknown, env: Record<string, string> = {}) => bakeFileLayers({ path: '/p/docker-bake.json', text: JSON.stringify(json) }, (n) => env[n], []);
  it('variables (environment first), groups, and inherits (maps merge, the rest replaces)', () => {
    const layers = bake(
      {
        variable: { TAG: { default: 'latest' }, REG: { default: 'r.io' }, IMAGE: { default: '${REG}/app' } },
        group: { default: { targets: ['app'] } },
        target: {
          base: { args: { A: '1', B: '1' }, tags: ['base'], platforms: ['linux/amd64'] },
          app: { inherits: ['base'], args: { B: '2' }, tags: ['${IMAGE}:${TAG}'] },
        },
      },
      { TAG: 'v2' },
    );
    assert.deepEqual(layers.groups, { default: ['app'] });
    assert.deepEqual(layers.targets.app!.args, { A: '1', B: '2' });
    assert.deepEqual(layers.targets.app!.tags, ['r.io/app:v2']);
    assert.deepEqual(layers.targets.app!.platforms, ['linux/amd64']);
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['a cyclic inherits', { target: { a: { inherits: ['b'] }, b: { inherits: ['a'] } } }, /target\.a: inherits itself: a -> b -> a/],
    ['an unknown parent', { target: { a: { inherits: ['nope'] } } }, /target\.a\.inherits: unknown target "nope"/],
    ['a non-object target', { target: { a: 3 } }, /target\.a: must be an object/],
    ['a bad boolean', { target: { a: { 'no-cache': 'yes' } } }, /target\.a\.no-cache: must be true or false/],
    ['an HCL function', { target: { a: { tags: ['${upper(x)}'] } } }, /target\.a\.tags\[0\]: invalid interpolation format/],
  ];
  for (const [what, json, message] of bad) it(`${what} is an error naming the key`, () => assert.throws(() => bake(json), message));
  it('not JSON is an error naming the file', () => assert.throws(() => bakeFileLayers({ path: '/p/docker-bake.json', text: '{' }, () => undefined, []), /docker-bake\.json: not valid JSON/));
});

describe('bake: files, --set, selection and --print', () => {
  let dir: string;
  before(async () => {
    dir = await makeTree({
      'compose.yaml': 'services:\n  api: {build: {context: ./api}}\n  web: {build: ./web}\n',
      'api/Dockerfile': 'FROM scratch\n',
      'web/Dockerfile': 'FROM scratch\n',
      'docker-bake.json': JSON.stringify({ group: { backend: { targets: ['api'] }, all: { targets: ['backend', 'web'] }, loop: { targets: ['loop2'] }, loop2: { targets: ['loop'] } }, target: { api: { args: { FROM_BAKE: '1' } } } }),
      'docker-bake.hcl': 'target "x" {}\n',
    });
  });
  after(() => removeAll(dir));

  it('without -f, reads every default file present, in bake order', async () => {
    const files = await readConfigFiles([], dir);
    assert.deepEqual(files.map((f) => f.path.slice(dir.length + 1)), ['compose.yaml', 'docker-bake.json', 'docker-bake.hcl']);
    assert.deepEqual(DEFAULT_FILES.slice(0, 6), ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml', 'docker-bake.json', 'docker-bake.hcl']);
  });
  it('an HCL file is a clear error pointing to JSON', async () => {
    await assert.rejects(loadConfig(await readConfigFiles(['docker-bake.hcl'], dir), {}), /docker-bake\.hcl: HCL bake files are not supported; write the same targets as docker-bake\.json/);
  });
  it('a compose file and a bake file merge; groups expand; --set overrides', async () => {
    const config = await loadConfig(await readConfigFiles(['compose.yaml', 'docker-bake.json'], dir), {});
    assert.deepEqual(selectTargets(config, ['all']), ['api', 'web']);
    assert.deepEqual(selectTargets(config, []), ['api', 'web']);
    assert.deepEqual(config.targets.api!.args, { FROM_BAKE: '1' });
    applyOverrides(config, ['api.args.X=1', '*.tags=a:1', '*.tags=a:2', 'web.tags+=w:3', 'w*.no-cache=true', 'api.dockerfile=other.Dockerfile']);
    assert.deepEqual(config.targets.api!.args, { FROM_BAKE: '1', X: '1' });
    assert.deepEqual(config.targets.api!.tags, ['a:1', 'a:2']);
    assert.deepEqual(config.targets.web!.tags, ['a:1', 'a:2', 'w:3']);
    assert.equal(config.targets.web!.noCache, true);
    assert.equal(dockerfilePath(config.targets.api!), join(dir, 'api', 'other.Dockerfile'));
    assert.throws(() => validateTargets(config, ['api']), /docker-bake\.json: target\.api\.dockerfile: .*other\.Dockerfile does not exist/);
  });
  it('unknown targets, group cycles, bad --set are errors', async () => {
    const config = await loadConfig(await readConfigFiles(['compose.yaml', 'docker-bake.json'], dir), {});
    assert.throws(() => selectTargets(config, ['nope']), /unknown target or group "nope"; defined: api, web/);
    assert.throws(() => selectTargets(config, ['loop']), /group\.loop: includes itself: loop -> loop2 -> loop/);
    assert.throws(() => applyOverrides(config, ['api.colour=red']), /--set: "api\.colour=red": unknown key "colour"/);
    assert.throws(() => applyOverrides(config, ['zzz.tags=x']), /no target matches "zzz"/);
    assert.throws(() => applyOverrides(config, ['notaset']), /expected TARGET\.KEY=VALUE/);
  });
  it('a missing context is an error naming the service', async () => {
    await mkdir(join(dir, 'gone'), { recursive: true });
    await writeFile(join(dir, 'c2.yaml'), 'services:\n  x: {build: ./missing}\n');
    const config = await loadConfig(await readConfigFiles(['c2.yaml'], dir), {});
    assert.throws(() => validateTargets(config, ['x']), /c2\.yaml: services\.x\.context: .*missing is not a directory/);
  });
  it('--print has bake\'s shape', async () => {
    const config = await loadConfig(await readConfigFiles(['compose.yaml'], dir), {});
    const printed = printable(config, ['web']) as { group: Record<string, unknown>; target: Record<string, Record<string, unknown>> };
    assert.deepEqual(printed.group, { default: { targets: ['api', 'web'] } });
    assert.deepEqual(Object.keys(printed.target), ['web']);
    assert.deepEqual(printed.target.web, { context: join(dir, 'web'), dockerfile: 'Dockerfile', tags: [`${projectName(dir.split('/').pop()!)}-web`] });
  });
});

describe('bake: examples/bake stays true', () => {
  const example = join(new URL('../..', import.meta.url).pathname, 'examples', 'bake');
  it('compose.yaml and bake.json name the same targets, and every context and Dockerfile exists', async () => {
    const cwd = process.cwd();
    // bake files resolve contexts against the working directory, as buildx does: run from the example.
    process.chdir(example);
    try {
      await checkExample();
    } finally {
      process.chdir(cwd);
    }
  });
  async function checkExample(): Promise<void> {
    for (const file of ['compose.yaml', 'bake.json']) {
      const config = await loadConfig(await readConfigFiles([file], example), { TAG: 't' });
      const selected = selectTargets(config, []);
      assert.deepEqual(selected, ['api', 'worker'], file);
      for (const name of selected) assert.equal(config.targets[name]!.context, example);
      validateTargets(config, selected);
    }
  }
});
