// Headless Chromium (Debian's package, driven by playwright-core) for the dag tests:
// every request is recorded, and every request but the page's own file is refused.
import type { TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureDebianPackages } from '../fixtures.js';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(t: TestContext): Promise<Browser> {
  await ensureDebianPackages('chromium');
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
  t.after(() => browser.close());
  return browser;
}

export interface OfflinePage {
  page: Page;
  /** Every request the page made (the allowed page itself included). */
  requests: string[];
  /** Uncaught errors and console errors. */
  errors: string[];
}

/** A page whose requests are all refused except `allow` (the file under test). */
export async function offlinePage(
  browser: Browser,
  allow: string | undefined,
  viewport = { width: 1400, height: 860 },
): Promise<OfflinePage> {
  const context = await browser.newContext({ viewport, offline: false });
  const page = await context.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    requests.push(url);
    return url === allow ? route.continue() : route.abort('blockedbyclient');
  });
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return { page, requests, errors };
}
