import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/**
 * The finance page in Debian's headless Chromium, driven by puppeteer-core (which never
 * downloads a browser of its own). Everything the page asks of the network is recorded, and
 * then refused, as is every console message of type error and every page error.
 */

export function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) return configured;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      // not this one
    }
  }
  throw new Error('no Chromium found: apt-get install chromium (or set CHROMIUM_PATH)');
}

export interface OpenedPage {
  browser: Browser;
  page: Page;
  /** Console errors and uncaught page errors. */
  errors: string[];
  /** Every request other than the page's own file. */
  requests: string[];
  /** From navigation start to the load event, as the browser measured it. */
  loadMs: number;
  close(): Promise<void>;
}

export async function openInChromium(file: string, viewport = { width: 1280, height: 900 }): Promise<OpenedPage> {
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
  });
  const url = pathToFileURL(file).href;
  try {
    const page = await browser.newPage();
    await page.setViewport(viewport);
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      if (r.url() === url) return void r.continue();
      requests.push(r.url());
      void r.abort();
    });
    await page.goto(url, { waitUntil: 'load' });
    // A string, evaluated in the page: this project compiles without the DOM's types.
    const loadMs = Number(await page.evaluate(
      '(() => { const n = performance.getEntriesByType("navigation")[0]; return n.loadEventEnd - n.startTime; })()'));
    return { browser, page, errors, requests, loadMs, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
