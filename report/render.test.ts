import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket } from 'undici';
import { requireOrSkip } from '../test/tools.js';
import { analyzeImage } from './analyze.js';
import { renderHtml } from './render-html.js';
import { renderJson } from './render-json.js';
import { renderText } from './render-text.js';
import { imageOf, MiB } from './test-util.js';
import type { SizeReport } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const HOSTILE = '<img src=x onerror="document.title=1">.txt';

async function fixtureReport(): Promise<SizeReport> {
  const img = await imageOf([
    { createdBy: 'ADD rootfs.tar /', entries: [{ dir: 'etc' }, { file: 'etc/hostname', size: 1000 }, { file: 'usr/lib/libc.so.6', size: 2 * MiB }] },
    { createdBy: 'ENV PATH=/usr/local/bin:/usr/bin' },
    { createdBy: 'RUN dd if=/dev/zero of=/big.bin bs=1M count=10', entries: [{ file: 'big.bin', size: 10 * MiB }] },
    {
      createdBy: 'RUN /bin/sh -c apt-get update && apt-get install -y curl',
      entries: [
        { file: 'var/lib/apt/lists/deb.debian.org_bookworm_Packages', size: 800_000 },
        { file: 'usr/bin/curl', size: 250_000 },
        { file: `srv/${HOSTILE}`, size: 10 },
      ],
    },
    { createdBy: 'RUN rm /big.bin', entries: [{ whiteout: 'big.bin' }] },
  ]);
  return analyzeImage(img, { sourceMap: [undefined, undefined, { file: 'Dockerfile', line: 3 }, { file: 'Dockerfile', line: 4 }, { file: 'Dockerfile', line: 5 }] });
}

describe('report/render', function () {
  this.timeout(60_000);
  let r: SizeReport;
  before(async () => {
    r = await fixtureReport();
    assert.equal(r.reclaimableBytes, 10 * MiB);
  });

  it('text: aligned tables, human sizes, findings with fixes; colour only when asked', () => {
    const plain = renderText(r, { color: false, width: 100 });
    assert.doesNotMatch(plain, /\x1b\[/);
    const flat = plain.replace(/\n +/g, ' '); // prose lines are word-wrapped
    // headline: caches (800 000 B of apt lists) + reclaimable (the deleted 10 MiB), then dive's score apart
    assert.equal(r.cacheBytes, 800_000);
    assert.match(flat, /Waste {2}10\.8 MiB \(\d+\.\d% of added bytes\): 781\.3 KiB package-manager caches \+ 10\.0 MiB reclaimable in 1 path\(s\)/);
    assert.match(flat, /rm -rf \/var\/lib\/apt\/lists\/\*`/);
    assert.match(flat, /dive would report 10\.0 MiB wasted/);
    assert.match(flat, /dive's efficiency \d+\.\d% \(counts no caches\)/);
    assert.match(plain, /apt-lists {2}layer 2 \(Dockerfile:4\)/);
    assert.match(plain, /\n {4}fix: add `&&/);
    assert.match(plain, /10\.0 MiB {2}deleted {2}1→rm@3 {2}\/big\.bin/);
    for (const line of plain.split('\n')) assert.ok([...line].length <= 100, `too wide: ${line}`);
    // the layers table: every row's CREATED BY column starts at the same offset
    const rows = plain.split('\n').filter((l) => /^ +\d+ᵇ? +\S+ +\S+ +\S+/.test(l) && /(ADD|RUN)/.test(l));
    assert.equal(rows.length, 4);
    const cols = rows.map((l) => l.search(/(Dockerfile|ADD)/));
    assert.ok(cols.every((c) => c === cols[0]), `aligned: ${cols}`);
    const colored = renderText(r, { color: true });
    assert.match(colored, /\x1b\[1m/);
  });

  it('json: round-trips, schemaVersion 1, the documented top-level keys', () => {
    const j = JSON.parse(renderJson(r)) as SizeReport;
    assert.deepEqual(j, r);
    assert.equal(j.schemaVersion, 1);
    const schema = readFileSyncText(join(here, 'SCHEMA.md'));
    for (const key of Object.keys(j)) assert.ok(schema.includes(`\`${key}\``), `SCHEMA.md documents ${key}`);
    for (const key of Object.keys(j.layers[0]!)) assert.ok(schema.includes(`\`${key}\``), `SCHEMA.md documents layers[].${key}`);
  });

  it('html: self-contained, escaped, no external references', () => {
    const html = renderHtml(r);
    assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?(?:https?:|\/\/)/i);
    assert.match(html, /Content-Security-Policy/);
    assert.ok(!html.includes(HOSTILE), 'image paths are escaped');
    assert.ok(html.includes('&lt;img src=x onerror=&quot;document.title=1&quot;&gt;.txt'));
    assert.match(html, /<svg id="layer-chart"/);
    assert.match(html, /<svg id="treemap"/);
  });

  it('html: rendered in headless Chromium shows the figures, sorts tables, screenshot saved', async function () {
    const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
    requireOrSkip(this, chromium ? undefined : 'chromium not installed (apt-get install -y chromium)');
    if (!chromium) return;
    const tmp = await mkdtemp(join(tmpdir(), 'tsb-report-html-'));
    const file = join(tmp, 'report.html');
    await writeFile(file, renderHtml(r));
    const browser = await startChromium(chromium, join(tmp, 'profile'));
    try {
      const page = await browser.page();
      await page.send('Page.enable');
      await page.send('Page.navigate', { url: pathToFileURL(file).href });
      await page.waitFor('document.body && document.body.getAttribute("data-ready") === "1"');

      const figures = (await page.eval(
        `Object.fromEntries([...document.querySelectorAll('[data-figure]')].map(e => [e.dataset.figure, e.querySelector('b').textContent]))`,
      )) as Record<string, string>;
      assert.equal(figures.reclaimable, '10.0 MiB');
      assert.equal(figures.wasted, '10.8 MiB');
      assert.equal(figures['dive-wasted'], '10.0 MiB');
      assert.equal(figures.files, String(r.totals.files));
      assert.match(figures.efficiency ?? '', /^\d+\.\d%$/);
      const text = (await page.eval('document.body.innerText')) as string;
      assert.match(text, /apt-get update && apt-get install -y curl/);
      assert.match(text, /rm -rf \/var\/lib\/apt\/lists/);
      assert.ok(text.includes(HOSTILE), 'the hostile name is shown as text');
      assert.equal(await page.eval('document.title.startsWith("tsbuild size report")'), true, 'no injected script ran');
      assert.equal(await page.eval('document.querySelectorAll("img").length'), 0);
      assert.ok(((await page.eval('document.querySelectorAll("#layer-chart g.layer").length')) as number) === r.layers.length);
      assert.ok(((await page.eval('document.querySelectorAll("#treemap rect").length')) as number) >= 3);

      // sortable: click "size" twice (desc, then asc) in the layers table
      const sizes = `[...document.querySelectorAll('#layers tbody tr')].map(tr => Number(tr.cells[2].dataset.sort))`;
      await page.eval(`document.querySelector('#layers th[data-col="2"]').click()`);
      const asc = (await page.eval(sizes)) as number[];
      assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
      await page.eval(`document.querySelector('#layers th[data-col="2"]').click()`);
      const desc = (await page.eval(sizes)) as number[];
      assert.deepEqual(desc, [...asc].reverse());

      await page.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1800, deviceScaleFactor: 1, mobile: false });
      const shot = (await page.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
      const png = Buffer.from(shot.data, 'base64');
      assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
      const dir = join(here, '__screenshots__');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'size-report.png'), png);
      assert.ok(png.length > 10_000, 'a real rendering, not a blank page');
      page.close();
    } finally {
      await browser.stop();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

function readFileSyncText(p: string): string {
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

// ------------------------------------------------------------ a minimal DevTools client

interface Page {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  eval(expr: string): Promise<unknown>;
  waitFor(expr: string, ms?: number): Promise<void>;
  close(): void;
}

async function startChromium(bin: string, profile: string): Promise<{ page(): Promise<Page>; stop(): Promise<void> }> {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0', 'about:blank',
  ];
  const proc: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const portFile = join(profile, 'DevToolsActivePort');
  const deadline = Date.now() + 20_000;
  let port = '';
  while (!port) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error(`chromium did not start: ${stderr.slice(-2000)}`);
    }
    try {
      port = (await readFile(portFile, 'utf8')).split('\n')[0]!.trim();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    async page() {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
      const target = list.find((t) => t.type === 'page');
      if (!target) throw new Error('no page target');
      return connect(target.webSocketDebuggerUrl);
    },
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function connect(url: string): Promise<Page> {
  const ws = new WebSocket(url);
  await new Promise<void>((res, rej) => {
    ws.addEventListener('open', () => res(), { once: true });
    ws.addEventListener('error', () => rej(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let id = 0;
  const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.rej(new Error(msg.error.message));
    else p.res(msg.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((res, rej) => {
      const n = ++id;
      pending.set(n, { res, rej });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  const evaluate = async (expr: string) => {
    const r = (await send('Runtime.evaluate', { expression: expr, returnByValue: true })) as {
      result: { value?: unknown };
      exceptionDetails?: { text: string };
    };
    if (r.exceptionDetails) throw new Error(`page error: ${r.exceptionDetails.text} in ${expr}`);
    return r.result.value;
  };
  return {
    send,
    eval: evaluate,
    async waitFor(expr, ms = 10_000) {
      const end = Date.now() + ms;
      while (!(await evaluate(`!!(${expr})`))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${expr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => ws.close(),
  };
}
