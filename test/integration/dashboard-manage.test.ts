// The dashboard's management pages in headless Chromium against a real
// daemon and a local registry (on one of the browsers' "bad ports", which a
// fetch-based client would refuse): image tag, push with per-layer bars,
// history and prune; the Run dialog's registry search, network and limits;
// volume and network inspect and prune; `system df` as a picture, its
// numbers the docker CLI's. Each with axe-core, bad input next to its field,
// and the daemon's own message for an API error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { DOCKER, run, startSeededDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { get } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHtpasswd } from '../helpers/registries.ts';
import { startRegistry, type Registry } from '../registry/helpers.ts';
import { axeViolations, haveChromium, launchBrowser, screenshot, startUi, type UiServer } from '../helpers/dashboard.ts';

/** A registry on a port browsers (and undici's fetch) refuse to reach: 6000 (X11), 6665-6669 (IRC), 10080. */
async function registryOnBadPort(): Promise<Registry> {
  let last: unknown;
  for (const port of [10080, 6665, 6666, 6667, 6668, 6669, 6000]) {
    try {
      return await startRegistry({ log: { level: 'warn' }, http: { addr: `127.0.0.1:${port}` } });
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** GET with node:http: Node's fetch, like a browser, refuses the registry's port. */
function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (err) { reject(err); } });
    }).on('error', reject);
  });
}

/** Presses Tab until the focused element's accessible text is `name`; fails after 80 presses. */
async function tabTo(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    const label = await page.evaluate(() => {
      const el = (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null; textContent: string | null } | null } }).document.activeElement;
      return el?.getAttribute('aria-label') ?? el?.textContent ?? '';
    });
    if (label === name) return;
  }
  assert.fail(`${name} is not reached with Tab`);
}

describe('berth ui: images, registry search, volumes, networks, disk usage', { skip: haveChromium ? false : 'no /usr/bin/chromium (CI installs it)' }, () => {
  let d: TestDaemon;
  let ui: UiServer;
  let browser: Browser;
  let page: Page;
  let reg: Registry;
  let host: string;

  before(async () => {
    reg = await registryOnBadPort();
    host = `localhost:${new URL(reg.url).port}`;
    d = await startSeededDaemon();
    ui = await startUi(d);
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    page = await context.newPage();
    page.on('dialog', (dlg) => void dlg.accept());
    await page.goto(ui.url);
  });

  after(async () => {
    await browser?.close();
    await ui?.stop();
    for (const n of ['ui-run-net']) d?.berth(['rm', '-f', n]);
    await d?.destroy();
    await reg?.stop();
  });

  test('an image is tagged (a bad name shown at the field), pushed with a bar per layer, and its history shown', async () => {
    await page.goto(`${ui.origin}/#/images`);
    // By keyboard: Tab to the image's Tag button, Enter opens the panel.
    await page.getByRole('heading', { name: 'Images', exact: true }).waitFor();
    await page.getByRole('rowheader', { name: 'busybox:latest' }).waitFor();
    await page.locator('body').focus();
    await tabTo(page, 'Tag image busybox:latest');
    await page.keyboard.press('Enter');
    const panel = page.locator('form', { has: page.getByRole('heading', { name: 'Tag busybox:latest' }) });
    let requests = 0;
    page.on('request', (r) => { if (/\/tag\?/.test(r.url())) requests++; });
    await panel.getByLabel(/New name/).fill('Bad/Name:1');
    assert.match(await panel.locator('#tag-ref-error').innerText(), /repository name \(Bad\/Name\) must be lowercase|must be lowercase/);
    assert.equal(await panel.getByLabel(/New name/).getAttribute('aria-invalid'), 'true');
    await panel.getByRole('button', { name: 'Tag', exact: true }).click();
    assert.equal(requests, 0, 'nothing was sent');
    const ref = `${host}/ui-push:1`;
    await panel.getByLabel(/New name/).fill(ref);
    await panel.getByLabel(/New name/).press('Enter');
    await page.getByRole('rowheader', { name: `busybox:latest, ${ref}` }).waitFor({ timeout: 15_000 });
    assert.match(d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout, new RegExp(`^${ref}$`, 'm'));
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on the tag panel');

    // Push: the name chosen from the image's tags, a bar per layer, then the registry has it.
    await page.getByRole('button', { name: 'Push image busybox:latest' }).click();
    const push = page.locator('form', { has: page.getByRole('heading', { name: /^Push / }) });
    await push.getByLabel(/Name to push/).selectOption(ref);
    await push.getByRole('button', { name: 'Push', exact: true }).click();
    await push.getByRole('status').getByText(new RegExp(`^Pushed ${ref.replace(/[.:/]/g, '\\$&')} \\(sha256:[0-9a-f]{64}\\)$`)).waitFor({ timeout: 60_000 });
    const bars = push.getByRole('list', { name: 'Pushed layers' }).locator('li');
    assert.ok((await bars.count()) >= 1);
    for (const li of await bars.all()) {
      assert.match(await li.innerText(), /Pushed|Layer already exists/);
      const bar = li.locator('progress');
      assert.equal(await bar.getAttribute('value'), await bar.getAttribute('max'), 'the bar is full');
    }
    await screenshot(page, 'images-push');
    const tags = await getJson(`${reg.url}/v2/ui-push/tags/list`) as { tags: string[] };
    assert.deepEqual(tags.tags, ['1']);
    // A push the registry refuses: the daemon's message, not a blank panel.
    d.berth(['tag', 'busybox', 'localhost:1/ui-nowhere:1']);
    await page.getByRole('button', { name: 'Push image busybox:latest' }).click();
    await page.getByRole('button', { name: 'Push image busybox:latest' }).click();
    await push.getByLabel(/Name to push/).selectOption('localhost:1/ui-nowhere:1');
    await push.getByRole('button', { name: 'Push', exact: true }).click();
    const cli = d.berth(['push', 'localhost:1/ui-nowhere:1']);
    assert.notEqual(cli.code, 0);
    await push.getByRole('alert').getByText(/^Error response from daemon: .*localhost:1/).waitFor({ timeout: 30_000 });
    d.berth(['rmi', 'localhost:1/ui-nowhere:1']);

    // History: a row per step, as `berth history` lists them.
    await page.getByRole('button', { name: 'History of image busybox:latest' }).click();
    const history = page.getByRole('region', { name: /^History of / });
    await history.locator('tbody tr').first().waitFor();
    const cliRows = d.berth(['history', '-q', '--no-trunc', 'busybox']).stdout.trim().split('\n').length;
    assert.equal(await history.locator('tbody tr').count(), cliRows);
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on history');
    await screenshot(page, 'images-history');
  });

  test('a registry that needs credentials: refused without them (the daemon\'s message), pushed and pulled with them', async () => {
    const work = mkdtempSync('/tmp/berth-ui-auth-');
    writeFileSync(join(work, 'token.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const secured = await startRegistry({
      log: { level: 'warn' },
      auth: { token: { service: 'ui-test', issuer: 'ui-test-issuer', signingkey: join(work, 'token.key'), htpasswd: writeHtpasswd(work, { alice: 's3cret pass' }), expiration: 60, autoredirect: true } },
      access: { repositories: [{ match: 'alice/**', users: { alice: ['pull', 'push'] } }] },
    });
    const ref = `localhost:${new URL(secured.url).port}/alice/app:1`;
    try {
      assert.equal(d.berth(['tag', 'busybox', ref]).code, 0);
      await page.goto(`${ui.origin}/#/images`);
      await page.getByRole('button', { name: 'Push image busybox:latest' }).click();
      const push = page.locator('form', { has: page.getByRole('heading', { name: /^Push / }) });
      await push.getByLabel(/Name to push/).selectOption(ref);
      await push.getByRole('button', { name: 'Push', exact: true }).click();
      const alert = push.getByRole('alert').getByText(/^Error response from daemon: /);
      try {
        await alert.waitFor({ timeout: 30_000 });
      } catch (err) {
        throw new Error(`${(err as Error).message}\npanel: ${await push.innerText()}`);
      }
      // The message the CLI shows for the same push without a login.
      const cli = d.berth(['push', ref]);
      assert.notEqual(cli.code, 0);
      const said = cli.stderr.trim().split('\n').pop()!.replace(/^(berth: )?(Error response from daemon: )?/, '');
      // A first push of these layers says the registry's error; after another registry got them, a bare '401 Unauthorized'.
      assert.match(said, /unauthorized|denied/i);
      assert.equal(await alert.innerText(), `Error response from daemon: ${said}`);
      await push.getByText('Registry credentials (optional)').click();
      await push.getByLabel('Username').fill('alice');
      await push.getByLabel('Password or token').fill('s3cret pass');
      await push.getByRole('button', { name: 'Push', exact: true }).click();
      await push.getByRole('status').getByText(/^Pushed .*alice\/app:1 \(sha256:/).waitFor({ timeout: 60_000 });
      assert.equal((await axeViolations(page)).join('\n'), '', 'axe on the push panel with credentials');
      // Pulled back with the same credentials, after the local name is gone.
      assert.equal(d.berth(['rmi', ref]).code, 0);
      await page.getByLabel('Pull an image').fill(ref);
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.getByRole('alert').getByText(/^Error response from daemon: .*(unauthorized|denied|authentication required)/i).waitFor({ timeout: 30_000 });
      const pullCreds = page.locator('details.credentials').first();
      await pullCreds.locator('summary').click();
      await pullCreds.getByLabel('Username').fill('alice');
      await pullCreds.getByLabel('Password or token').fill('s3cret pass');
      await page.getByRole('button', { name: 'Pull', exact: true }).click();
      await page.getByRole('rowheader', { name: new RegExp(ref.replace(/[.:/]/g, '\\$&')) }).waitFor({ timeout: 60_000 });
      // The daemon keeps nothing of them: the CLI, without a login, is still refused.
      assert.equal(d.berth(['rmi', ref]).code, 0);
      assert.notEqual(d.berth(['pull', ref], { timeout: 60_000 }).code, 0);
    } finally {
      d.berth(['rmi', ref]);
      await secured.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('prune removes the dangling image and keeps the tagged ones', async () => {
    // A tag moved to another image leaves the first one dangling.
    for (const note of ['first', 'second']) {
      assert.equal(d.berth(['run', '--name', `ui-${note}`, 'busybox', 'sh', '-c', `echo ${note} > /note`]).code, 0);
      assert.equal(d.berth(['commit', `ui-${note}`, 'ui-dangle:1']).code, 0);
      assert.equal(d.berth(['rm', `ui-${note}`]).code, 0);
    }
    const dangling = () => d.berth(['images', '-q', '--filter', 'dangling=true']).stdout.trim();
    assert.notEqual(dangling(), '');
    await page.goto(`${ui.origin}/#/images`);
    await page.getByRole('rowheader', { name: '<none>' }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Prune images' }).click();
    await page.getByRole('status').getByText(/^Pruned: [1-9]\d* deleted \(images and layers\), 0 untagged; reclaimed \d/).waitFor({ timeout: 30_000 });
    assert.equal(dangling(), '');
    await page.getByRole('rowheader', { name: '<none>' }).waitFor({ state: 'detached' });
    assert.match(d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']).stdout, /^busybox:latest$/m);
  });

  test('the Run dialog finds an image in the registry, runs it on a chosen network with limits; a limit the daemon refuses shows its message', async () => {
    assert.equal(d.berth(['network', 'create', 'ui-back']).code, 0);
    d.berth(['rmi', `${host}/ui-push:1`]);
    await page.goto(`${ui.origin}/#/containers`);
    await page.getByRole('button', { name: 'Run a container…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Run a container' });
    // A search the daemon cannot make: its message, next to the search.
    await dialog.getByLabel('Image').fill('localhost:1/ui');
    await dialog.getByRole('button', { name: 'Search the registry' }).click();
    const cliSearch = d.berth(['search', 'localhost:1/ui']);
    assert.notEqual(cliSearch.code, 0);
    await dialog.locator('#search-error').getByText(/^Error response from daemon: Get "http:\/\/localhost:1\/v1\/search/).waitFor({ timeout: 30_000 });
    // The registry's own search, through the daemon's GET /images/search.
    await dialog.getByLabel('Image').fill(`${host}/ui-pu`);
    await dialog.getByRole('button', { name: 'Search the registry' }).click();
    const results = dialog.getByRole('list', { name: `Registry search results for ${host}/ui-pu` });
    await results.waitFor({ timeout: 30_000 });
    assert.match(d.berth(['search', `${host}/ui-pu`]).stdout, /ui-push/);
    assert.equal(await results.locator('li').count(), 1);
    await results.getByRole('button', { name: `Use ${host}/ui-push` }).click();
    assert.equal(await dialog.getByLabel('Image').inputValue(), `${host}/ui-push`);
    await dialog.getByLabel('Image').fill(`${host}/ui-push:1`);
    await dialog.getByLabel('Name (optional)').fill('ui-run-net');
    await dialog.getByLabel('Command (optional)').fill('sleep 300');
    await dialog.getByLabel('Network').selectOption('ui-back');
    // Bad limits: each shown at its field, nothing sent.
    await dialog.getByLabel('Memory').fill('lots');
    await dialog.getByLabel('CPUs').fill('half');
    assert.match(await dialog.locator('#memory-error').innerText(), /invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'/);
    assert.match(await dialog.locator('#cpus-error').innerText(), /failed to parse half as a rational number/);
    // A limit only the daemon refuses: its words, as the CLI shows them.
    await dialog.getByLabel('Memory').fill('1m');
    await dialog.getByLabel('CPUs').fill('0.5');
    await dialog.getByRole('button', { name: 'Run' }).click();
    const want = d.berth(['create', '-m', '1m', 'busybox']).stderr.trim().replace(/^(berth: )?Error response from daemon: /, '');
    assert.match(want, /Minimum memory limit/);
    await dialog.getByRole('alert').getByText(want).waitFor({ timeout: 60_000 });
    assert.equal(d.berth(['ps', '-aq', '--filter', 'name=ui-run-net']).stdout, '', 'no container was left');
    await dialog.getByLabel('Memory').fill('32m');
    assert.match(await dialog.getByTestId('cmdline').innerText(), new RegExp(`^berth run -d --name ui-run-net --network ui-back --memory 32m --cpus 0\\.5 ${host.replace(/[.:]/g, '\\$&')}/ui-push:1 sleep 300$`));
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on the Run dialog with search results');
    await screenshot(page, 'run-dialog-search');
    await dialog.getByRole('button', { name: 'Run' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 60_000 });
    const got = d.berth(['inspect', '-f', '{{.State.Running}} {{.HostConfig.NetworkMode}} {{json .HostConfig.Memory}} {{json .HostConfig.NanoCpus}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}', 'ui-run-net']).stdout.trim();
    assert.equal(got, `true ui-back ${32 << 20} 500000000 ui-back`);
  });

  test('volumes: inspect as a tree; prune takes anonymous volumes no container uses, then named ones when asked', async () => {
    assert.equal(d.berth(['volume', 'create', 'ui-keep']).code, 0);
    assert.equal(d.berth(['run', '--name', 'ui-anon', '-v', '/anon', 'busybox', 'true']).code, 0);
    const anon = d.berth(['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', 'ui-anon']).stdout.trim();
    assert.equal(d.berth(['rm', 'ui-anon']).code, 0);
    await page.goto(`${ui.origin}/#/volumes`);
    await page.getByRole('button', { name: 'Inspect volume ui-keep' }).click();
    const tree = page.getByRole('list', { name: 'Volume ui-keep' });
    await tree.getByText('"local"').first().waitFor();
    const mountpoint = d.berth(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'ui-keep']).stdout.trim();
    await tree.getByText(JSON.stringify(mountpoint)).waitFor();
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on volume inspect');
    await screenshot(page, 'volumes-inspect');
    await page.getByRole('button', { name: 'Prune volumes' }).click();
    await page.getByRole('status').getByText(/^Deleted 1 volumes; reclaimed/).waitFor({ timeout: 30_000 });
    const left = d.berth(['volume', 'ls', '-q']).stdout;
    assert.doesNotMatch(left, new RegExp(`^${anon}$`, 'm'));
    assert.match(left, /^ui-keep$/m);
    await page.getByLabel(/named volumes too/).check();
    await page.getByRole('button', { name: 'Prune volumes' }).click();
    await page.getByRole('status').getByText(/^Deleted \d+ volumes; reclaimed/).waitFor({ timeout: 30_000 });
    assert.doesNotMatch(d.berth(['volume', 'ls', '-q']).stdout, /^ui-keep$/m);
  });

  test('networks: inspect as a tree; prune removes the unused ones, keeps one a container uses', async () => {
    assert.equal(d.berth(['network', 'create', '--subnet', '172.31.250.0/24', 'ui-unused']).code, 0);
    await page.goto(`${ui.origin}/#/networks`);
    await page.getByRole('button', { name: 'Inspect network ui-unused' }).click();
    const tree = page.getByRole('list', { name: 'Network ui-unused' });
    await tree.getByText('"172.31.250.0/24"').first().waitFor({ state: 'attached' });
    await tree.getByText('"bridge"').first().waitFor();
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on network inspect');
    await page.getByRole('button', { name: 'Prune networks' }).click();
    await page.getByRole('status').getByText(/^Deleted 1 networks: ui-unused$/).waitFor({ timeout: 30_000 });
    const names = d.berth(['network', 'ls', '--format', '{{.Name}}']).stdout;
    assert.doesNotMatch(names, /^ui-unused$/m);
    assert.match(names, /^ui-back$/m, 'the network ui-run-net uses stays');
  });

  test('disk usage: a bar per kind, and the numbers the docker CLI prints for the same daemon', async () => {
    await page.goto(`${ui.origin}/#/disk`);
    await page.getByRole('heading', { name: 'Disk usage' }).waitFor();
    const table = page.getByRole('table', { name: /Disk usage/ });
    await table.locator('tr[data-type="Images"]').waitFor();
    const cli = DOCKER ? run(DOCKER, ['system', 'df', '--format', '{{json .}}'], { env: d.env }) : d.berth(['system', 'df', '--format', '{{json .}}']);
    assert.equal(cli.code, 0, cli.stderr);
    const rows = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { Type: string; TotalCount: string; Active: string; Size: string; Reclaimable: string });
    assert.equal(rows.length, 4);
    for (const r of rows) {
      const cells = (await table.locator(`tr[data-type="${r.Type}"]`).locator('th, td').allInnerTexts()).map((c) => c.trim());
      assert.deepEqual(cells, [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable], r.Type);
      const bar = page.locator(`figure[data-type="${r.Type}"]`).getByRole('img');
      assert.equal(await bar.getAttribute('aria-label'), `${r.Type}: ${r.Size} in all, ${r.Reclaimable} reclaimable`);
    }
    assert.equal((await axeViolations(page)).join('\n'), '', 'axe on disk usage');
    await screenshot(page, 'disk-usage');
  });
});
