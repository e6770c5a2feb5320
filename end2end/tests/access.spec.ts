import { test, expect, Page } from '@playwright/test';
import * as path from 'node:path';
import { corpus, freshStart, mailFor, messageIdOf, noViolations, readyToSend, report } from './support';

// WCAG 2.1 AA on every page in both languages, checked by axe-core; the same pages at 320 CSS
// px (reflow: nothing scrolls sideways, axe again) and at 200 % zoom (a 1280 px window at
// 200 % is 640 CSS px: nothing scrolls sideways); larger text and high contrast; the page a
// browser shows when the app cannot start. Screenshots of each page at desktop width and at 320 px
// go to test-results/screenshots (the README shows three of them).

test.beforeEach(async ({ page }) => freshStart(page));


async function noSidewaysScrolling(page: Page, what: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${what} scrolls sideways`).toBeLessThanOrEqual(0);
}

async function shoot(page: Page, name: string) {
  const folder = path.join(test.info().project.outputDir, 'screenshots');
  await page.screenshot({ path: path.join(folder, `${name}.png`), fullPage: true });
}

/** Each page, reached the way a citizen reaches it, waiting for what shows it is ready. */
const PAGES: { name: string; open: (page: Page) => Promise<void> }[] = [
  {
    name: 'start',
    open: async (page) => {
      await page.goto('/');
      await page.locator('#search').fill('Musterhausen');
      await expect(page.locator('.hits li').first()).toBeVisible();
    },
  },
  {
    name: 'form',
    open: async (page) => {
      await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
      await expect(page.locator('#name')).toBeVisible();
    },
  },
  {
    name: 'form-errors',
    open: async (page) => {
      await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
      await page.locator('button.send').click();
      await expect(page.locator('#name-error')).not.toBeEmpty();
    },
  },
  {
    name: 'form-via-authority',
    open: async (page) => {
      await page.goto('/kontakt/landratsamt-musterhausen/fuehrerscheinstelle');
      await page.locator('.recipient summary').click();
      await page.locator('.for-authorities summary').click();
      await expect(page.locator('#embed-snippet')).toBeVisible();
    },
  },
  {
    name: 'not-offered',
    open: async (page) => {
      await page.goto('/kontakt/gemeinde-neudorf-am-see');
      await expect(page.locator('.unavailable')).toBeVisible();
    },
  },
  {
    name: 'unknown-form',
    open: async (page) => {
      await page.goto('/kontakt/gibt-es-nicht');
      await expect(page.locator('.error')).toBeVisible();
    },
  },
  {
    name: 'embedded',
    open: async (page) => {
      await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt?embed=1');
      await expect(page.locator('#name')).toBeVisible();
    },
  },
];

for (const lang of ['de', 'en']) {
  test(`every page passes axe in ${lang === 'de' ? 'German' : 'English'}, reflows at 320 px and at 200 % zoom`, async ({ page }) => {
    // Seven pages, each checked and photographed twice: some 20 s on a busy machine.
    test.setTimeout(120_000);
    await page.addInitScript((chosen) => localStorage.setItem('postsiegel-lang', chosen), lang);
    for (const { name, open } of PAGES) {
      await page.setViewportSize({ width: 1280, height: 900 });
      await open(page);
      await expect(page.locator('html')).toHaveAttribute('lang', lang);
      await noViolations(page, `${name} (${lang})`);
      await shoot(page, `${name}-${lang}-desktop`);
      await page.setViewportSize({ width: 320, height: 640 });
      await noSidewaysScrolling(page, `${name} (${lang}) at 320 px`);
      await noViolations(page, `${name} (${lang}) at 320 px`);
      await shoot(page, `${name}-${lang}-320`);
      await page.setViewportSize({ width: 640, height: 450 });
      await noSidewaysScrolling(page, `${name} (${lang}) at 200 %`);
    }
  });
}

test('the receipt and the status page pass axe in both languages', async ({ page }) => {
  await readyToSend(page, '/kontakt/stadt-beispielstadt');
  await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
  await expect(page.locator('.receipt-number')).toBeVisible();
  for (const lang of ['de', 'en']) {
    if (lang === 'en') await page.getByRole('button', { name: 'Switch to English' }).click();
    await noViolations(page, `receipt (${lang})`);
    await shoot(page, `receipt-${lang}-desktop`);
    await page.setViewportSize({ width: 320, height: 640 });
    await noSidewaysScrolling(page, `receipt (${lang}) at 320 px`);
    await shoot(page, `receipt-${lang}-320`);
    await page.setViewportSize({ width: 1280, height: 900 });
  }
  const status = await page.locator('.receipt a').first().getAttribute('href');
  for (const lang of ['en', 'de']) {
    await page.evaluate((chosen) => localStorage.setItem('postsiegel-lang', chosen), lang);
    await page.goto(status!);
    await expect(page.locator('.state')).toBeVisible();
    await noViolations(page, `status (${lang})`);
    await shoot(page, `status-${lang}-desktop`);
    await page.setViewportSize({ width: 320, height: 640 });
    await noSidewaysScrolling(page, `status (${lang}) at 320 px`);
    await shoot(page, `status-${lang}-320`);
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test('a status page after a bounce and after a delay report passes axe in both languages', async ({ page }) => {
  const reports = [
    { file: 'dsn_13.txt', original: 'mailman.8262.1143060203.1568.wed_ride@grizz.org', shows: /nicht erhalten/ },
    { file: 'dsn_06.txt', original: 'j4d77kvs79.fsf@informatik.hu-berlin.de', shows: /verzögert/ },
  ];
  for (const { file, original, shows } of reports) {
    await readyToSend(page, '/kontakt/landratsamt-musterhausen/gewerbeamt');
    await page.getByLabel('Empfangsbestätigung anfordern').check();
    await page.getByRole('button', { name: 'Verschlüsselt senden' }).click();
    const receipt = (await page.locator('.receipt-number').textContent())!;
    const mail = await mailFor(receipt, 'gewerbeamt@lra-musterhausen.example');
    await report(mail.mail_from, corpus(file, original, messageIdOf(mail)));
    const status = await page.locator('.receipt a').first().getAttribute('href');
    for (const lang of ['de', 'en']) {
      await page.evaluate((chosen) => localStorage.setItem('postsiegel-lang', chosen), lang);
      await expect(async () => {
        await page.goto(status!);
        await expect(page.locator('.report')).toBeVisible({ timeout: 1_000 });
      }).toPass({ timeout: 20_000 });
      if (lang === 'de') await expect(page.locator('.state')).toHaveText(shows);
      await noViolations(page, `status after ${file} (${lang})`);
      await page.setViewportSize({ width: 320, height: 640 });
      await noSidewaysScrolling(page, `status after ${file} (${lang}) at 320 px`);
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.evaluate(() => localStorage.setItem('postsiegel-lang', 'de'));
  }
});

test('larger text and high contrast are switched in the header, kept, and pass axe', async ({ page }) => {
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await expect(page.locator('#name')).toBeVisible();
  const size = () => page.evaluate(() => parseFloat(getComputedStyle(document.querySelector('#name')!).fontSize));
  const before = await size();
  const larger = page.getByRole('button', { name: 'Größere Schrift' });
  await expect(larger).toHaveAttribute('aria-pressed', 'false');
  await larger.click();
  await expect(larger).toHaveAttribute('aria-pressed', 'true');
  expect(await size()).toBeGreaterThanOrEqual(before * 1.2);
  const contrast = page.getByRole('button', { name: 'Hoher Kontrast' });
  await contrast.click();
  await expect(contrast).toHaveAttribute('aria-pressed', 'true');
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(await background()).toBe('rgb(0, 0, 0)');
  await page.reload();
  await expect(page.getByRole('button', { name: 'Hoher Kontrast' })).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('#name')).toBeVisible();
  expect(await background()).toBe('rgb(0, 0, 0)');
  expect(await size()).toBeGreaterThanOrEqual(before * 1.2);
  await page.locator('button.send').click();
  await expect(page.locator('#name-error')).not.toBeEmpty();
  await noViolations(page, 'form in high contrast with larger text');
  await shoot(page, 'form-de-contrast');
  await page.setViewportSize({ width: 320, height: 640 });
  await noSidewaysScrolling(page, 'form in high contrast with larger text at 320 px');
});

test('the notice shown when the app cannot start passes axe in both languages', async ({ page }) => {
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto('/kontakt/landratsamt-musterhausen/gewerbeamt');
  await expect(page.locator('#boot-failed')).toBeVisible();
  await noViolations(page, 'the start failure');
  await shoot(page, 'start-failure-desktop');
  await page.setViewportSize({ width: 320, height: 640 });
  await noSidewaysScrolling(page, 'the start failure at 320 px');
  await shoot(page, 'start-failure-320');
});
