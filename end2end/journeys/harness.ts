import { test as base } from '@playwright/test';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { launch, Tab } from '../engines/engines.js';
import { codeFor, dataDir } from '../tests/support';

// The cross-engine journeys: Playwright is only their runner here. Each project of
// playwright.config.ts names an engine; the engine starts once per worker, and every test
// gets a fresh tab on the portal with no storage from an earlier one.

export type Engine = 'chromium' | 'firefox' | 'webkit';
type Session = Awaited<ReturnType<typeof launch>>;

export const test = base.extend<{ tab: Tab }, { engine: Engine; session: Session }>({
  engine: ['chromium', { option: true, scope: 'worker' }],
  session: [
    async ({ engine }, use) => {
      const session = await launch(engine);
      await use(session);
      await session.close();
    },
    { scope: 'worker', timeout: 60_000 },
  ],
  tab: async ({ session, baseURL }, use, testInfo) => {
    const tab = await session.newTab(baseURL);
    await use(tab);
    if (testInfo.status !== testInfo.expectedStatus) {
      const png = await tab.screenshot().catch(() => undefined);
      if (png) {
        const file = testInfo.outputPath('screenshot.png');
        fs.writeFileSync(file, png);
        await testInfo.attach('screenshot', { path: file, contentType: 'image/png' });
      }
    }
    await tab.close();
  },
});

export { expect } from '@playwright/test';

/** Writes `files` into a folder of their own under their real names (umlauts and all), for
 * the file input; returns their paths. */
export function onDisk(files: { name: string; buffer: Buffer }[]): string[] {
  const folder = fs.mkdtempSync(path.join(dataDir, 'upload-'));
  return files.map((file) => {
    const where = path.join(folder, file.name);
    fs.writeFileSync(where, file.buffer);
    return where;
  });
}

/** Types the address, asks for the code, reads it from the mail and confirms it. */
export async function confirmAddress(form: Tab, address: string) {
  await form.fill({ label: 'Ihre E-Mail-Adresse' }, address);
  await form.click({ role: 'button', name: 'Code senden' });
  await form.fill({ label: 'Bestätigungscode' }, await codeFor(address));
  await form.click({ role: 'button', name: 'Code bestätigen' });
  await form.see({ text: `Bestätigt: ${address}` });
}

/** A name for this machine that is not loopback to a browser: its own network address, or
 * else its host name. A page from there is no secure context, so `crypto.subtle` is missing
 * in every engine, as on a site an authority serves over plain http. */
function nonSecureHost(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return os.hostname();
}

/**
 * The portal behind an HTTP proxy of the test's own, which records every request that
 * passes (`METHOD /path`) and may rewrite the answers' headers: a way to see and shape
 * traffic that works in every engine, where only Chromium has request interception.
 * `nonSecure`: listen on every interface and name the portal by this machine's address, an
 * origin no engine counts as secure.
 */
export async function portalProxy(
  portalPort: number,
  options: { nonSecure?: boolean; headers?: (headers: http.IncomingHttpHeaders) => void } = {},
) {
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const upstream = http.request(
      { host: '127.0.0.1', port: portalPort, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        options.headers?.(answer.headers);
        response.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, options.nonSecure ? '0.0.0.0' : '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    origin: `http://${options.nonSecure ? nonSecureHost() : '127.0.0.1'}:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
