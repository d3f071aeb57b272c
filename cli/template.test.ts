import assert from 'node:assert/strict';
import { alignColumns, goJson, listFormat, Template } from './template.js';

const DATA = {
  Id: 'sha256:abc',
  RepoTags: ['app:1', 'app:latest'],
  RepoDigests: null,
  Size: 1985867,
  Config: { User: '', Env: ['PATH=/bin', 'X=<y>&z'], Entrypoint: null, Labels: { 'org.b': '2', 'org.a': '1' }, Cmd: ['sh'] },
  RootFS: { Type: 'layers', Layers: ['sha256:l1', 'sha256:l2'] },
};
const OPTS = { mapKeys: new Set(['Labels']), sliceKeys: new Set(['Entrypoint', 'RepoDigests', 'Env', 'Cmd']), typeName: 'image' };

/** Each row: template → what Go's text/template prints for docker's types (checked against docker 20.10 `image inspect -f`). */
const CASES: Array<[string, string]> = [
  ['{{.Id}}', 'sha256:abc'],
  ['{{.Size}}', '1985867'],
  ['{{.Config.Env}}', '[PATH=/bin X=<y>&z]'],
  ['{{.Config.Entrypoint}}', '[]'],
  ['{{.RepoDigests}}', '[]'],
  ['{{.Config.Labels}}', 'map[org.a:1 org.b:2]'],
  ['{{.RootFS}}', '{layers [sha256:l1 sha256:l2]}'],
  ['{{json .RootFS}}', '{"Type":"layers","Layers":["sha256:l1","sha256:l2"]}'],
  ['{{json .Config.Env}}', '["PATH=/bin","X=\\u003cy\\u003e\\u0026z"]'],
  ['{{json .RepoDigests}}', 'null'],
  ['{{index .RepoTags 1}}', 'app:latest'],
  ['{{index .Config.Labels "org.a"}}', '1'],
  ['{{index .Config.Labels "none"}}', '<no value>'],
  ['{{join .RepoTags ","}}', 'app:1,app:latest'],
  ['{{len .RootFS.Layers}}', '2'],
  ['{{range .RepoTags}}<{{.}}>{{end}}', '<app:1><app:latest>'],
  ['{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}', '0=app:1 1=app:latest '],
  ['{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', 'org.a=1;org.b=2;'],
  ['{{range .RepoDigests}}x{{else}}none{{end}}', 'none'],
  ['{{if .Config.User}}user{{else if .Config.Cmd}}cmd{{else}}neither{{end}}', 'cmd'],
  ['{{if not .Config.User}}root{{end}}', 'root'],
  ['{{with .RootFS}}{{.Type}}{{end}}', 'layers'],
  ['{{.Id | upper}}', 'SHA256:ABC'],
  ['{{upper (index .RepoTags 0)}}', 'APP:1'],
  ['{{printf "%s has %d layers" .Id (len .RootFS.Layers)}}', 'sha256:abc has 2 layers'],
  ['{{println .Id}}', 'sha256:abc\n'],
  ['{{split "a:b" ":"}}', '[a b]'],
  ['{{truncate .Id 6}}', 'sha256'],
  ['{{eq .RootFS.Type "layers"}}', 'true'],
  ['{{- " x " -}}  \n {{.Id}}', ' x sha256:abc'],
  ['a {{/* comment */}}b', 'a b'],
  ['{{$t := index .RepoTags 0}}{{$t}}', 'app:1'],
  ['{{$.Id}}', 'sha256:abc'],
  ['{{(index .RootFS.Layers 1)}} {{(.RootFS).Type}}', 'sha256:l2 layers'],
];

const ERRORS: Array<[string, RegExp]> = [
  ['{{.Id', /template parsing error: template: :1: unclosed action/],
  ['{{bogus .}}', /function "bogus" not defined/],
  ['{{if .Id}}x', /without \{\{end\}\}/],
  ['{{end}}', /unexpected \{\{end\}\}/],
  ['{{.Nope}}', /executing "" at <\.Nope>: can't evaluate field Nope in type image/],
  ['{{.Config.Labels.nope}}', /map has no entry for key "nope"/],
  ['{{template "x"}}', /not supported/],
  ['{{index .RepoTags 5}}', /index out of range: 5/],
  ['{{"unterminated}}', /unterminated quoted string|unclosed action/],
];

describe('cli/template: the Go text/template subset of --format', () => {
  for (const [tpl, want] of CASES) it(tpl, () => assert.equal(new Template(tpl, OPTS).execute(DATA), want));
  for (const [tpl, err] of ERRORS) {
    it(`${tpl} is a usage error`, () => assert.throws(() => new Template(tpl, OPTS).execute(DATA), (e: Error & { code?: string }) => err.test(e.message) && e.code === 'TSB_CLI_USAGE'));
  }
  it('goJson escapes as encoding/json does', () => assert.equal(goJson({ a: '<none>', b: null }), '{"a":"\\u003cnone\\u003e","b":null}'));
  it('listFormat: table prefix, literal \\t and \\n, trimmed', () => {
    assert.deepEqual(listFormat('table {{.A}}\\t{{.B}} '), { table: true, template: '{{.A}}\t{{.B}}' });
    assert.deepEqual(listFormat('{{.A}}\\n'), { table: false, template: '{{.A}}\n' });
  });
  it('alignColumns pads like tabwriter(minwidth 10, padding 3)', () => {
    assert.equal(alignColumns('REPOSITORY\tTAG\tSIZE\ndiffsuite-probe\t<none>\t1.99MB\n'), 'REPOSITORY        TAG       SIZE\ndiffsuite-probe   <none>    1.99MB\n');
  });
});
