/**
 * Debian's chromium for the browser tests, through playwright-core (no browser is ever downloaded).
 * A missing binary is an error, never a silent skip, as with nats-server: `bash .ci/run` installs
 * it, and locally `apt-get install -y chromium` (or CHROMIUM_PATH) does.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const screenshots = path.resolve(fileURLToPath(new URL('../..', import.meta.url)), 'test-results/screenshots');

/** Where a browser test leaves the screenshot `name` (test-results/screenshots/). */
export const screenshotPath = (name: string): string => path.join(screenshots, name);

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`the browser tests need chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(screenshots, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
