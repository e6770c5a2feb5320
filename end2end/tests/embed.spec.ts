import { test, expect, Page } from '@playwright/test';
import { FILES, authoritySite, codeFor, contentOf, decrypt, mailFor, parse } from './support';

// An authority frames the form on its own site. The demo's Landratsamt allows pages on
// 127.0.0.1 (any port) besides its own site; the form itself is loaded from localhost, so
// the framing page is truly another origin. A page on an origin not allowed cannot frame it.

function formUrl(baseURL: string | undefined): string {
  const port = new URL(baseURL!).port;
  return `http://localhost:${port}/kontakt/landratsamt-musterhausen/gewerbeamt?embed=1`;
}

async function frameOf(page: Page) {
  const element = await page.locator('iframe').elementHandle();
  return (await element!.contentFrame())!;
}

test('an allowed site frames the form; the citizen confirms the address and sends from inside it', async ({ page, baseURL }) => {
  const site = await authoritySite(formUrl(baseURL));
  try {
    await page.goto(`http://127.0.0.1:${site.port}/`);
    const form = page.frameLocator('iframe');
    await expect(form.getByRole('heading', { level: 1 })).toHaveText('Landratsamt Musterhausen – Gewerbeamt');
    // Compact, and no way to another form or to the portal's search.
    expect(await (await frameOf(page)).evaluate(() => document.documentElement.classList.contains('embedded'))).toBe(true);
    // No link in the frame leads to another page of the portal.
    await expect(form.locator('a[href^="/"]')).toHaveCount(0);
    await expect(form.getByText('Für Behörden: dieses Formular verlinken oder einbinden')).toHaveCount(0);

    const address = `framed-${Date.now()}@example.org`;
    await form.getByLabel('Ihr Name').fill('Fritz Überall');
    await form.getByLabel('Ihre E-Mail-Adresse').fill(address);
    await form.getByRole('button', { name: 'Code senden' }).click();
    await form.getByLabel('Bestätigungscode').fill(await codeFor(address));
    await form.getByRole('button', { name: 'Code bestätigen' }).click();
    await expect(form.getByText(`Bestätigt: ${address}`)).toBeVisible();
    await form.getByLabel('Betreff').fill('Aus dem Rahmen');
    await form.getByLabel('Ihre Nachricht', { exact: true }).fill('Gesendet aus der Seite des Landratsamts.');
    await form.getByLabel('Anhänge (freiwillig)').setInputFiles(FILES);
    await form.getByRole('button', { name: 'Verschlüsselt senden' }).click();
    await expect(form.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible({ timeout: 30_000 });
    const receipt = (await form.locator('.receipt-number').textContent())!;
    // This Chromium refuses storage to a frame of another site (as Chrome does with
    // third-party cookies blocked): the message went all the same, signed by the key that
    // now lives only in this page, and the receipt says the backup file is the one way.
    await expect(form.getByText(/^Wichtig: Ihr Browser erlaubt hier nicht, den Schlüssel zu speichern/)).toBeVisible();
    await form.getByLabel('Passwort für die Sicherungsdatei').fill('Grüne Wiese am Fluss');
    await form.getByLabel('Passwort wiederholen').fill('Grüne Wiese am Fluss');
    await form.getByRole('button', { name: 'Sicherungsdatei erstellen' }).click();
    await expect(form.getByRole('link', { name: /^Sicherungsdatei speichern \(postsiegel-antwort-[a-z2-7]+\.p12\)$/ })).toBeVisible({ timeout: 20_000 });
    // The status opens in a window of its own, not inside the authority's page; it is the
    // only link to the portal.
    await expect(form.getByRole('link', { name: /Stand der Zustellung/ })).toHaveAttribute('target', '_blank');
    await expect(form.locator('a[href^="/"]')).toHaveCount(1);
    // Still the authority's page around it.
    await expect(page.getByRole('heading', { level: 1, name: 'Kontakt' })).toBeVisible();

    const { text, files } = contentOf(parse(decrypt(await mailFor(receipt, 'gewerbeamt@lra-musterhausen.example')), receipt));
    expect(text).toContain('Gesendet aus der Seite des Landratsamts.');
    expect(Object.keys(files).sort()).toEqual(FILES.map((f) => f.name).sort());
  } finally {
    site.close();
  }
});

test('a site on an origin the authority did not allow cannot frame the form', async ({ page, baseURL }) => {
  const site = await authoritySite(formUrl(baseURL));
  const refused: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('frame-ancestors')) refused.push(message.text());
  });
  try {
    // The same page, but from localhost: not among the Landratsamt's origins.
    await page.goto(`http://localhost:${site.port}/`);
    await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect(page.frameLocator('iframe').getByLabel('Ihr Name')).toHaveCount(0);
  } finally {
    site.close();
  }
});

/** Frames `src` from a page on 127.0.0.1 and expects the browser to refuse: no framing at all. */
async function expectNoFraming(page: Page, src: string) {
  const site = await authoritySite(src);
  const refused: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes("frame-ancestors 'none'")) refused.push(message.text());
  });
  try {
    await page.goto(`http://127.0.0.1:${site.port}/`);
    await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect(page.frameLocator('iframe').getByLabel('Ihr Name')).toHaveCount(0);
  } finally {
    site.close();
  }
}

test('a form whose authority allowed no site cannot be framed at all', async ({ page, baseURL }) => {
  const port = new URL(baseURL!).port;
  await expectNoFraming(page, `http://localhost:${port}/kontakt/stadt-beispielstadt?embed=1`);
});

test('an allowed site cannot frame the full layout, which leads to the search and other forms', async ({ page, baseURL }) => {
  const port = new URL(baseURL!).port;
  // Without ?embed=1: the page with the way to the search, not meant for a frame.
  await expectNoFraming(page, `http://localhost:${port}/kontakt/landratsamt-musterhausen/gewerbeamt`);
});
