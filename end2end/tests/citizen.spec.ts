import { test, expect } from '@playwright/test';
import { freshStart } from './support';

// The citizen's way in, on the demo directory the server generates: search as you type,
// a form's recipient, a form that is not offered, German and English.

// Every test starts in German, whatever an earlier one chose.
test.beforeEach(async ({ page }) => freshStart(page));

test('search as you type leads to the form, which names its recipient', async ({ page }) => {
  await page.goto('/');
  const search = page.getByLabel('Behörde oder Amt suchen');
  await search.pressSequentially('fuehrersch', { delay: 30 });
  const hit = page.getByRole('link', { name: 'Landratsamt Musterhausen – Führerscheinstelle' });
  await expect(hit).toBeVisible();
  await expect(page.getByText('1 Treffer')).toBeVisible();
  await hit.click();
  await expect(page).toHaveURL(/\/kontakt\/landratsamt-musterhausen\/fuehrerscheinstelle$/);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(
    'Landratsamt Musterhausen – Führerscheinstelle',
  );
  // The window's title names the page, and the focus starts at the new page's content.
  await expect(page).toHaveTitle('Landratsamt Musterhausen – Führerscheinstelle – Postsiegel');
  await expect(page.locator('#main')).toBeFocused();
  // No mailbox of its own: the form says where the message goes instead.
  await expect(page.getByText('Postfach: poststelle@lra-musterhausen.example')).toBeVisible();
  await expect(page.getByText(/kein eigenes verschlüsseltes Postfach/)).toBeVisible();
  await page.getByText('Verschlüsselt für').click();
  await expect(page.locator('.certificate')).toContainText(/Fingerabdruck \(SHA-256\) [0-9A-F]{2}(:[0-9A-F]{2}){31}/);
});

test('a form that is not offered says why and how else to reach the authority', async ({ page }) => {
  await page.goto('/kontakt/gemeinde-neudorf-am-see');
  await expect(page.getByRole('heading', { name: 'Dieses Kontaktformular ist derzeit nicht verfügbar' })).toBeVisible();
  await expect(page.getByText(/kein gültiges Verschlüsselungszertifikat/)).toBeVisible();
  await expect(page.getByRole('link', { name: '+49 9876 54-0' })).toHaveAttribute('href', 'tel:+49987654-0');
  await expect(page.getByRole('link', { name: 'gemeinde@neudorf-am-see.example' })).toBeVisible();
  // Not offered, so the search leaves it out.
  await page.goto('/');
  await page.getByLabel('Behörde oder Amt suchen').fill('Neudorf');
  await expect(page.getByText('Keine Behörde gefunden', { exact: false })).toBeVisible();
});

test('an unknown link says so and leads back to the search', async ({ page }) => {
  await page.goto('/kontakt/gibt-es-nicht');
  await expect(page.getByText('Dieses Kontaktformular gibt es nicht.', { exact: false })).toBeVisible();
  await page.getByRole('link', { name: 'Zur Suche' }).click();
  await expect(page.getByLabel('Behörde oder Amt suchen')).toBeVisible();
});

test('English on request, remembered, and announced to assistive technology', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'de');
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Secure contact form');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await page.reload();
  await expect(page.getByLabel('Find an authority or office')).toBeVisible();
  await page.getByLabel('Find an authority or office').fill('Gewerbeamt');
  await expect(page.getByText(/Trade office, 12345 Musterhausen/)).toBeVisible();
});

test('every form carries the imprint, the privacy notice and the signature note', async ({ page }) => {
  await page.goto('/kontakt/stadt-beispielstadt');
  await page.getByText('Impressum und Datenschutz').click();
  await expect(page.getByText('Oberbürgermeister Max Beispiel')).toBeVisible();
  await expect(page.getByText('datenschutz@beispielstadt.example')).toBeVisible();
  await expect(page.getByText(/sieht im Klartext nur Ihre E-Mail-Adresse/)).toBeVisible();
  // How long, from the portal's configuration (the embedded default: 30 days).
  await expect(page.getByText(/werden 30 Tage nach der Zustellung gelöscht/)).toBeVisible();
  await expect(page.getByText(/ersetzt keine handschriftliche Unterschrift/)).toBeVisible();
});

test('switching the language keeps everything typed and attached', async ({ page }) => {
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await page.getByLabel('Ihr Name').fill('Erika Mustermann');
  await page.getByLabel('Ihre Nachricht', { exact: true }).fill('Bitte nicht verlieren.');
  await page.getByLabel('Anhänge (freiwillig)').setInputFiles([
    { name: 'Übersicht.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') },
  ]);
  await expect(page.locator('.attached li')).toHaveCount(1);
  await page.getByRole('button', { name: 'Switch to English' }).click();
  await expect(page.getByLabel('Your name')).toHaveValue('Erika Mustermann');
  await expect(page.getByLabel('Your message', { exact: true })).toHaveValue('Bitte nicht verlieren.');
  await expect(page.locator('.attached li')).toContainText('Übersicht.pdf');
  await expect(page.getByText('Your message goes to')).toBeVisible();
});
