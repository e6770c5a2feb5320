import { test, expect } from '@playwright/test';

const REQUIRED_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
];

test('the home page is rendered by the WASM app without console errors', async ({ page, request }, testInfo) => {
  // The static page has only the loading notice (and its failure text, hidden): the page's
  // heading and the search are made by the app, which removes the notice.
  const staticHtml = await (await request.get('/')).text();
  expect(staticHtml).toContain('id="boot-loading"');
  expect(staticHtml).not.toContain('id="search"');

  const errors: string[] = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sicheres Kontaktformular');
  await expect(page.locator('#boot')).toHaveCount(0);
  await expect(page).toHaveTitle('Sicheres Kontaktformular – Postsiegel');
  await page.screenshot({ path: testInfo.outputPath('home.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('a portal on the demo directory says so, above the app, under the same policy', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  await page.goto('/kontakt/landratsamt-musterhausen');
  const banner = page.getByRole('complementary', { name: 'Demo' });
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('erfundene Behörden');
  // The app still starts beneath it (the banner is markup, not script) and shows the form.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Landratsamt Musterhausen');
  const portal = await (await page.request.get('/api/portal')).json();
  expect(portal.demo).toBe(true);
  expect(portal.forms_offered).toBe(8);
  expect(errors).toEqual([]);
});

test('every response carries the content security policy and the other security headers', async ({ page }) => {
  const response = await page.goto('/');
  const headers = response!.headers();
  const csp = headers['content-security-policy'];
  for (const directive of REQUIRED_CSP) {
    expect(csp.split('; ')).toContain(directive);
  }
  const scriptSrc = csp.split('; ').find((d) => d.startsWith('script-src '))!;
  expect(scriptSrc).toMatch(/^script-src 'self' 'sha256-[A-Za-z0-9+/]{43}=' 'wasm-unsafe-eval'$/);
  expect(csp).not.toContain('unsafe-inline');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
});

test('an inline script injected into the page is blocked', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  const outcome = await page.evaluate(async () => {
    const violation = new Promise<string>((resolve) =>
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true }));
    const script = document.createElement('script');
    script.textContent = 'window.__injected = true;';
    document.body.appendChild(script);
    return { directive: await violation, ran: (window as any).__injected === true };
  });
  expect(outcome.ran).toBe(false);
  expect(outcome.directive).toBe('script-src-elem');
});

test('deep links load the app; hashed assets are immutable and index.html is revalidated', async ({ page, request }) => {
  const deep = await page.goto('/kontakt/irgendeine-behoerde');
  expect(deep!.status()).toBe(200);
  expect(deep!.headers()['cache-control']).toBe('no-cache');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();

  const html = await (await request.get('/')).text();
  const wasm = html.match(/href="(\/[^"]+_bg\.wasm)"/)![1];
  const asset = await request.get(wasm, { headers: { 'accept-encoding': 'gzip, br' } });
  expect(asset.status()).toBe(200);
  expect(asset.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
  expect(['gzip', 'br']).toContain(asset.headers()['content-encoding']);

  expect((await request.get('/no-such-file.js')).status()).toBe(404);
});

test('the API answers JSON, also for unknown paths', async ({ request }) => {
  const health = await request.get('/api/health');
  expect(health.status()).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok' });

  const unknown = await request.get('/api/no/such/thing');
  expect(unknown.status()).toBe(404);
  expect(unknown.headers()['content-type']).toContain('application/json');
  expect(await unknown.json()).toEqual({ code: 'not_found', params: {} });
});
