import { test, expect, FileChooser, Locator, Page } from '@playwright/test';
import { FILES, codeFor, contentOf, decrypt, freshStart, mailFor, parse } from './support';

// The whole way by keyboard alone: Tab, typing, Enter and Space; no mouse, no clicks. Every
// element that takes the focus shows it.

test.beforeEach(async ({ page }) => freshStart(page));

/** Presses Tab until `target` has the focus, checking that each stop shows its focus. */
async function tabTo(page: Page, target: Locator) {
  for (let presses = 0; presses < 40; presses++) {
    if (await target.evaluate((e) => e === document.activeElement).catch(() => false)) return;
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => {
      const active = document.activeElement;
      if (!active || active === document.body) return 'body';
      const style = getComputedStyle(active);
      return `${style.outlineStyle} ${style.outlineWidth}`;
    });
    if (outline !== 'body') expect(outline, 'focus is visible').toMatch(/^solid [1-9]/);
  }
  throw new Error(`Tab never reached ${target}`);
}

test('a citizen finds the form, writes, confirms the address and sends by keyboard alone', async ({ page }) => {
  // Listening from the start: the browser then hands file pickers to the test at once.
  const chooser = new Promise<FileChooser>((resolve) => page.once('filechooser', resolve));
  await page.goto('/');
  await expect(page.locator('#search')).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Zum Inhalt springen' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#main')).toBeFocused();

  await tabTo(page, page.locator('#search'));
  // Each answer redraws the hits: wait for the last one before moving the focus there.
  const lastAnswer = page.waitForResponse((r) => r.url().includes('Gewerbeamt%20Musterhausen'));
  await page.keyboard.type('Gewerbeamt Musterhausen');
  await (await lastAnswer).finished();
  const hit = page.getByRole('link', { name: 'Landratsamt Musterhausen – Gewerbeamt' });
  await expect(hit).toBeVisible();
  await tabTo(page, hit);
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/kontakt\/landratsamt-musterhausen\/gewerbeamt$/);

  // Sending too early: the focus goes to the first field in error.
  await tabTo(page, page.locator('button.send'));
  await page.keyboard.press('Enter');
  await expect(page.locator('#name')).toBeFocused();
  await page.keyboard.type('Renate Tastatur');

  const address = `keyboard-${Date.now()}@example.org`;
  await tabTo(page, page.locator('#email'));
  await page.keyboard.type(address);
  await tabTo(page, page.getByRole('button', { name: 'Code senden' }));
  await page.keyboard.press('Enter');
  const code = page.locator('#code');
  await tabTo(page, code);
  await page.keyboard.type(await codeFor(address));
  await tabTo(page, page.getByRole('button', { name: 'Code bestätigen' }));
  await page.keyboard.press('Enter');
  await expect(page.getByText(`Bestätigt: ${address}`)).toBeVisible();

  await tabTo(page, page.locator('#subject'));
  await page.keyboard.type('Ohne Maus');
  await tabTo(page, page.locator('#message'));
  await page.keyboard.type('Geschrieben nur mit der Tastatur.');
  await tabTo(page, page.locator('#files'));
  await page.keyboard.press('Enter');
  await (await chooser).setFiles(FILES);
  await expect(page.locator('.attached li')).toHaveCount(2);
  // A file removed again by keyboard.
  await tabTo(page, page.getByRole('button', { name: `${FILES[1].name} entfernen` }));
  await page.keyboard.press('Enter');
  await expect(page.locator('.attached li')).toHaveCount(1);

  await tabTo(page, page.locator('button.send'));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Ihre Nachricht ist eingegangen' })).toBeVisible();
  await expect(page.locator('.receipt')).toBeFocused();
  const receipt = (await page.locator('.receipt-number').textContent())!;
  const { text, files } = contentOf(parse(decrypt(await mailFor(receipt, 'gewerbeamt@lra-musterhausen.example')), receipt));
  expect(text).toContain('Geschrieben nur mit der Tastatur.');
  expect(Object.keys(files)).toEqual([FILES[0].name]);

  await tabTo(page, page.getByRole('link', { name: 'Stand der Zustellung' }));
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Stand der Zustellung');
});
