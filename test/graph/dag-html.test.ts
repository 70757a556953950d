// The HTML viewer in headless Chromium, with every network request refused: the page
// must need none, and must still pan, zoom, search and show a clicked step's details.
// A screenshot goes to test-artifacts/dag-html.png.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, runAsl } from '../helpers.js';
import { launchChromium, offlinePage } from './dag-browser.js';
import { buildDagFixture, defaultIds, describe } from './dag-fixture.js';

// Browser globals for page.evaluate (this project compiles without the DOM lib).
declare const document: { querySelector(s: string): { getAttribute(n: string): string | null } | null };

export const ARTIFACTS_DIR = join(REPO_ROOT, 'test-artifacts');

test('the HTML viewer works offline: click a step for its details, search, pan and zoom', async (t) => {
  const fx = await buildDagFixture(t);
  const file = join(fx.work, 'lineage.html');
  const r = await runAsl(['--store', fx.store, '--out', file, '--group-packages'], {
    program: 'asl-dag',
    cwd: fx.work,
  });
  assert.equal(r.code, 0, describe(r));
  const html = await readFile(file, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'no external script, style sheet or image');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  const script = viewerScriptOf(html);
  assert.ok(script.includes('aslDag') && script.length > 5000, 'the bundled viewer is inlined');
  assert.deepEqual(
    scriptSources(html),
    [`'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`],
    "scripts are allowed by the hash of the one inlined, never by 'unsafe-inline'",
  );

  const browser = await launchChromium(t);
  const url = pathToFileURL(file).href;
  const { page, requests, errors } = await offlinePage(browser, url, { width: 1500, height: 860 });
  await page.goto(url);
  const { build, bootstrap, check } = fx.steps;
  const { artifacts } = defaultIds(fx);
  const node = (id: string) => page.locator(`g.node[data-id="${id}"]`);

  // Click the build step: the panel shows its command, status, signer and its inputs.
  await node(build.id).click();
  const details = page.locator('#details');
  assert.equal(await details.locator('pre.command').textContent(), fx.commands.build);
  const text = (await details.textContent())!;
  assert.match(text, /build\s*succeeded/);
  assert.match(text, /exited 0/);
  const signer = (await readFile(join(fx.store, 'keys', 'signing.pub'), 'utf8')).length > 0;
  assert.ok(signer);
  for (const needle of [
    build.id,
    'Inputs (',
    'Outputs (',
    'Environment (',
    'PATH',
    artifacts.t2.slice(7, 19),
    'motd',
  ]) {
    assert.ok(text.includes(needle), `details mention ${needle}`);
  }
  // The failing step, and a link from the panel to a drawn artifact.
  await node(check.id).click();
  assert.equal(await details.locator('pre.command').textContent(), fx.commands.check);
  assert.match((await details.textContent())!, /failed \(exit 3\)[\s\S]*exited 3/);
  await details.locator(`a[data-goto="${artifacts.t3}"]`).first().click();
  assert.match((await details.textContent())!, /Made by \(1\)[\s\S]*build/);
  assert.ok(
    await node(artifacts.t3).evaluate((g) =>
      (g as unknown as { classList: { contains(c: string): boolean } }).classList.contains('selected'),
    ),
  );
  // The package group lists the .debs (Fit first: following the link centred the view on T3).
  await page.click('#fit');
  await node(`packages:${bootstrap.id}`).click();
  for (const name of fx.packages) assert.ok((await details.textContent())!.includes(name));

  // Search: highlight matches, dim the rest; "only matches" hides them.
  await page.fill('#search', 'motd');
  assert.match((await page.textContent('#count'))!, /^[1-9]\d* match/);
  assert.match((await node(artifacts.motd).getAttribute('class'))!, /\bmatch\b/);
  assert.match((await node(bootstrap.id).getAttribute('class'))!, /\bdim\b/);
  await page.check('#filter');
  assert.match((await node(bootstrap.id).getAttribute('class'))!, /\bhide\b/);
  await page.press('#search', 'Enter');
  assert.ok((await details.textContent())!.includes('motd'), 'Enter selects the first match');
  await page.uncheck('#filter');
  await page.fill('#search', '');
  assert.doesNotMatch((await node(bootstrap.id).getAttribute('class'))!, /\b(dim|hide)\b/);

  // Zoom with the wheel and pan by dragging: both move the viewBox.
  const viewBox = () => page.evaluate(() => document.querySelector('#canvas svg')!.getAttribute('viewBox'));
  await page.click('#fit');
  const start = await viewBox();
  const box = (await page.locator('#canvas').boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  const zoomed = await viewBox();
  assert.notEqual(zoomed, start, 'the wheel zooms');
  const width = (vb: string | null) => Number(vb!.split(' ')[2]);
  assert.ok(width(zoomed) < width(start), 'wheel up zooms in');
  await page.mouse.move(box.x + 200, box.y + 200);
  await page.mouse.down();
  await page.mouse.move(box.x + 320, box.y + 260, { steps: 5 });
  await page.mouse.up();
  const panned = await viewBox();
  assert.notEqual(panned, zoomed, 'dragging pans');
  assert.equal(width(panned), width(zoomed), 'panning keeps the zoom');
  await page.click('#fit');
  assert.equal(await viewBox(), start);

  // Back to a step selected, for the screenshot.
  await node(build.id).click();
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS_DIR, 'dag-html.png') });

  assert.deepEqual(requests, [url], 'the page requested nothing but itself');
  assert.deepEqual(errors, []);
});

/** The page's one executable script: the text of the <script> element without a type. */
function viewerScriptOf(html: string): string {
  const scripts = [...html.matchAll(/<script( [^>]*)?>([\s\S]*?)<\/script>/g)];
  const code = scripts.filter((m) => !/type="application\/json"/.test(m[1] ?? ''));
  assert.equal(code.length, 1, 'one executable script');
  return code[0]![2]!;
}

/** The sources of the CSP's script-src directive. */
function scriptSources(html: string, kind = 'script-src'): string[] {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
  assert.ok(csp, 'the page has a Content-Security-Policy');
  const directive = csp
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find((d) => d[0] === kind);
  assert.ok(directive, `${kind} in ${csp}`);
  return directive.slice(1);
}

test('the CSP runs the viewer and applies its style sheet by their hashes, and refuses any other inline script or style', async (t) => {
  const fx = await buildDagFixture(t);
  const file = join(fx.work, 'lineage.html');
  const r = await runAsl(['--store', fx.store, '--out', file], { program: 'asl-dag', cwd: fx.work });
  assert.equal(r.code, 0, describe(r));
  const html = await readFile(file, 'utf8');
  assert.ok(!scriptSources(html).includes("'unsafe-inline'"));
  const css = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
  assert.deepEqual(scriptSources(html, 'style-src'), [
    `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`,
  ]);
  // The same page with one more inline script, style sheet and style attribute, as an injection would add them.
  const tampered = join(fx.work, 'tampered.html');
  await writeFile(
    tampered,
    html
      .replace(
        '</body>',
        '<script>window.injected = 1;</script>\n<style>main { outline: 7px solid rgb(1, 2, 3) }</style>\n</body>',
      )
      .replace('<aside id="details"', '<aside style="outline: 9px solid rgb(4, 5, 6)" id="details"'),
  );
  const browser = await launchChromium(t);
  for (const [path, injected] of [
    [file, false],
    [tampered, true],
  ] as const) {
    const url = pathToFileURL(path).href;
    const { page, errors } = await offlinePage(browser, url);
    await page.goto(url);
    // The viewer's own style sheet applies (a header laid out as a flex row); the injected ones do not.
    const state = await page.evaluate(`({
      viewer: typeof globalThis.aslDag,
      injected: globalThis.injected ?? null,
      header: getComputedStyle(document.querySelector('header')).display,
      main: getComputedStyle(document.querySelector('main')).outlineStyle,
      aside: getComputedStyle(document.querySelector('#details')).outlineStyle,
    })`);
    assert.deepEqual(state, { viewer: 'object', injected: null, header: 'flex', main: 'none', aside: 'none' }, path);
    if (injected)
      assert.ok(
        errors.some((e) => /Content Security Policy/.test(e)),
        `the refusal is reported: ${errors.join('; ')}`,
      );
    else assert.deepEqual(errors, []);
  }
});

test('receipt data cannot inject markup into the viewer', async (t) => {
  const fx = await buildDagFixture(t);
  const evil = `echo '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'`;
  const cap = await runAsl(['--store', 'store', '--cmd', evil, '--no-auto-watch', '--outdir', 'store/per/evil'], {
    program: 'asl-capture',
    cwd: fx.work,
  });
  assert.equal(cap.code, 0, describe(cap));
  const file = join(fx.work, 'evil.html');
  const r = await runAsl(['--store', fx.store, '--out', file, '--focus', 'evil'], { program: 'asl-dag' });
  assert.equal(r.code, 0, describe(r));
  const browser = await launchChromium(t);
  const url = pathToFileURL(file).href;
  const { page, requests, errors } = await offlinePage(browser, url);
  await page.goto(url);
  await page.locator('g.node.asl-receipt').first().click();
  assert.equal(await page.locator('#details pre.command').textContent(), evil, 'shown as text, exactly');
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined);
  assert.deepEqual(requests, [url], 'no request, not even for the injected <img>');
  assert.deepEqual(errors, []);
});
