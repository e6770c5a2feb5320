// One way to drive every browser engine a citizen may use: Chromium, Firefox ESR and
// WebKitGTK (Safari's engine), all Debian's own builds. A journey written against `Tab`
// runs unchanged in each.
//
// Why these drivers: Playwright drives only its own patched Firefox and WebKit, which cannot
// be downloaded here. puppeteer-core drives Debian's Chromium over CDP and Debian's Firefox
// ESR over WebDriver BiDi, with no driver binary to build (geckodriver would be another
// crate to compile on every fresh machine). WebKitGTK speaks only classic WebDriver, through
// its own WebKitWebDriver; selenium-webdriver is the well-kept client for that, given the
// driver's address. Elements are found by one script that runs inside the page, the same in
// every engine, by what a citizen sees: a label, a button's or a link's name, a text.
//
// CommonJS with JSDoc types, so that Playwright's TypeScript tests and plain node scripts
// (the wasm tests' runner) share it.

'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

// Debian's Chromium, as root, on this closed network (without the networking flags it
// floods the network with refused connections).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MINIBROWSER = '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** @typedef {'chromium' | 'firefox' | 'webkit'} Engine */

/** The engines, with the name the summary gives each. */
const ENGINES = {
  chromium: { title: 'Chromium' },
  firefox: { title: 'Firefox ESR' },
  webkit: { title: 'WebKitGTK' },
};

/**
 * What a journey points at, as a citizen would name it.
 * @typedef {string
 *   | { label: string }
 *   | { role: 'button' | 'link' | 'heading', name: string | RegExp }
 *   | { text: string | RegExp }} Target
 */

/** A RegExp cannot cross into the page: it travels as source and flags. */
function portable(target) {
  if (typeof target === 'string') return { css: target };
  const pattern = target.name ?? target.text;
  if (pattern instanceof RegExp) {
    return { ...target, name: undefined, text: undefined, pattern: { source: pattern.source, flags: pattern.flags } };
  }
  return target;
}

/**
 * Runs inside the page (serialized, so it may use nothing from outside): the visible
 * elements `target` names. A name matches when it equals the pattern's string after
 * whitespace is folded, or when the RegExp finds itself in it.
 */
function findInPage(target) {
  const fold = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const matches = (s) => {
    const text = fold(s);
    if (target.pattern) return new RegExp(target.pattern.source, target.pattern.flags).test(text);
    return text === fold(target.name ?? target.text);
  };
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  const nameOf = (e) => e.getAttribute('aria-label') || e.textContent;
  let found;
  if (target.css) {
    found = [...document.querySelectorAll(target.css)];
  } else if (target.label) {
    found = [...document.querySelectorAll('label')]
      .filter((l) => fold(l.textContent) === fold(target.label))
      .map((l) => l.control)
      .filter(Boolean);
  } else if (target.role === 'button') {
    found = [...document.querySelectorAll('button, [role=button], input[type=submit]')].filter((e) =>
      matches(nameOf(e) || e.value),
    );
  } else if (target.role === 'link') {
    found = [...document.querySelectorAll('a[href]')].filter((e) => matches(nameOf(e)));
  } else if (target.role === 'heading') {
    found = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter((e) => matches(nameOf(e)));
  } else {
    // The innermost elements whose text matches.
    const all = [...document.body.querySelectorAll('*')].filter((e) => matches(e.textContent));
    found = all.filter((e) => !all.some((other) => other !== e && e.contains(other)));
  }
  // A file input is often hidden behind its label; it is still the one to fill.
  return found.filter((e) => visible(e) || (e.type === 'file' && e.isConnected));
}

/** Runs inside the page: marks the one element `target` names, for the driver to act on. */
function markInPage(target, find) {
  const found = find(target);
  if (found.length !== 1) return { count: found.length };
  const mark = `m${Math.random().toString(36).slice(2)}`;
  found[0].setAttribute('data-e2e', mark);
  return { count: 1, css: `[data-e2e="${mark}"]` };
}

/** Runs inside the page: what a journey reads of the elements `target` names. */
function readInPage(target, find) {
  return find(target).map((e) => ({
    text: e.textContent.replace(/\s+/g, ' ').trim(),
    value: 'value' in e ? String(e.value) : null,
    disabled: !!e.disabled,
    focused: document.activeElement === e,
    attributes: Object.fromEntries([...e.attributes].map((a) => [a.name, a.value])),
  }));
}

/** `inPage(target, findInPage)` as one function's source: no eval in the page, which the
 * portal's CSP forbids (WebKit applies it to the driver's scripts too). */
const withFind = (inPage) => `(target) => (${inPage})(target, ${findInPage})`;

/**
 * How one engine's driver acts on one document (the page, or a frame in it). Each backend
 * supplies these; `Tab` builds the journey's vocabulary on them.
 * @typedef {object} Backend
 * @property {(fn: string, args: unknown[]) => Promise<any>} evaluate  runs `(fn)(...args)` in the document
 * @property {(css: string, text: string) => Promise<void>} type  clears the field, then types
 * @property {(css: string) => Promise<void>} click
 * @property {(css: string, paths: string[]) => Promise<void>} upload
 * @property {(css: string) => Promise<Backend>} frame  the document of the frame `css` names
 * @property {(rate: number | null) => Promise<void>} [throttle]  CPU throttling (Chromium)
 * @property {() => Promise<Buffer>} screenshot  the window as a PNG (for a failed test's report)
 */

/** A document in a browser, as a journey sees it. */
class Tab {
  /** @param {Backend} backend @param {string} engine @param {string} [origin]
   *  @param {string} [downloads] the folder the engine saves downloads in */
  constructor(backend, engine, origin, downloads) {
    this.backend = backend;
    this.engine = engine;
    this.origin = origin;
    this.downloads = downloads;
    /** Ends the tab; the engine's `newTab` says how. */
    this.close = async () => {};
  }

  /** Runs `fn(...args)` in the page and returns what it returns (JSON-serializable). */
  async evaluate(fn, ...args) {
    return this.backend.evaluate(fn.toString(), args);
  }

  async goto(url) {
    const absolute = this.origin ? new URL(url, this.origin).href : url;
    await this.backend.goto(absolute);
  }

  async url() {
    return this.evaluate(() => location.href);
  }

  /** Every visible element `target` names, as read now. */
  async read(target) {
    return this.backend.evaluate(withFind(readInPage), [portable(target)]);
  }

  async count(target) {
    return (await this.read(target)).length;
  }

  /** The one element `target` names, waiting for it to appear (and to be the only one). */
  async one(target, timeout = 10_000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const marked = await this.backend
        .evaluate(withFind(markInPage), [portable(target)])
        .catch(() => ({ count: 0 }));
      if (marked.count === 1) return marked.css;
      if (Date.now() > deadline) {
        throw new Error(`${this.engine}: ${marked.count} elements match ${describe(target)}, not one`);
      }
      await sleep(100);
    }
  }

  async fill(target, text) {
    await this.backend.type(await this.one(target), text);
  }

  async click(target) {
    await this.backend.click(await this.one(target));
  }

  async setFiles(target, paths) {
    await this.backend.upload(await this.one(target), paths);
  }

  /** Slows the page's CPU by `rate` (4: a mid-range phone, as DevTools offers), where the
   * engine can (Chromium); `rate` 1 ends it. */
  async throttleCpu(rate) {
    if (!this.backend.throttle) throw new Error(`${this.engine} cannot throttle the CPU`);
    await this.backend.throttle(rate === 1 ? null : rate);
  }

  /** The window as a PNG. */
  async screenshot() {
    return this.backend.screenshot();
  }

  /** The document of the frame `target` names, to act inside it. */
  async frame(target) {
    return new Tab(await this.backend.frame(await this.one(target)), this.engine, undefined, this.downloads);
  }

  /** Clicks the link `target` names and waits for the file the engine saves: its name and
   * bytes, as the citizen finds them in their downloads. */
  async download(target) {
    const partial = /\.(crdownload|part|wkdownload|download)$/;
    // By name and time: Chromium (as driven here) and WebKit overwrite a file of the same
    // name where Firefox numbers it.
    const stamp = (file) => `${file} ${fs.statSync(path.join(this.downloads, file)).mtimeMs}`;
    const before = new Set(fs.readdirSync(this.downloads).map(stamp));
    await this.click(target);
    const name = await this.until('the download', () =>
      fs.readdirSync(this.downloads).find((file) => !partial.test(file) && !before.has(stamp(file))),
    );
    const file = path.join(this.downloads, name);
    // Done when it stops growing.
    let size = -1;
    await this.until('the download to finish', () => {
      const now = fs.statSync(file).size;
      const done = now === size && !fs.readdirSync(this.downloads).some((f) => partial.test(f));
      size = now;
      return done;
    });
    return { name, bytes: fs.readFileSync(file) };
  }

  /** Polls `check` until it returns a truthy value, which it returns. */
  async until(what, check, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        const result = await check();
        if (result) return result;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.engine}: waited ${timeout} ms for ${what}${last ? `: ${last.message}` : ''}`);
      }
      await sleep(100);
    }
  }

  /** Waits until `target` names at least one visible element; returns the first, read. */
  async see(target, timeout) {
    return this.until(`${describe(target)} to show`, async () => (await this.read(target))[0], timeout);
  }
}

function describe(target) {
  return typeof target === 'string' ? target : JSON.stringify(target, (_, v) => (v instanceof RegExp ? String(v) : v));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The content (renderer) processes under `rootPid`, as /proc shows them, by engine. */
const CONTENT_PROCESS = {
  chromium: /--type=renderer/,
  firefox: /-contentproc.*\btab\b/,
  webkit: /WebKitWebProcess/,
};

/** The highest peak resident memory (VmHWM, kB) of `engine`'s content processes that
 * descend from `rootPid`: what the page made the engine hold at most. */
function contentPeakKb(engine, rootPid) {
  const parents = new Map();
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parents.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // ended meanwhile
    }
  }
  const descends = (pid) => {
    for (let at = pid; at > 1; at = parents.get(at) ?? 0) if (at === rootPid) return true;
    return false;
  };
  let peak = 0;
  for (const pid of parents.keys()) {
    if (!descends(pid)) continue;
    try {
      const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (!CONTENT_PROCESS[engine].test(command)) continue;
      const match = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
      if (match) peak = Math.max(peak, Number(match[1]));
    } catch {
      // ended meanwhile
    }
  }
  return peak;
}

/** A puppeteer Frame (Chromium over CDP, Firefox over BiDi) as a Backend. */
function puppeteerBackend(frame, page) {
  return {
    goto: async (url) => {
      await page.goto(url, { waitUntil: 'load' });
    },
    evaluate: (fn, args) => frame.evaluate(`(${fn})(...${JSON.stringify(args)})`),
    type: async (css, text) => {
      const element = await frame.$(css);
      // Into the field first, as a citizen does: keys go to the focused frame, and a field's
      // focus() alone does not move it into a frame of another origin (Firefox).
      await element.click();
      // Empty, as WebDriver's Element Clear does, so that typing replaces what was there.
      await element.evaluate((e) => {
        e.value = '';
      });
      await element.type(text);
    },
    click: async (css) => (await frame.$(css)).click(),
    upload: async (css, paths) => (await frame.$(css)).uploadFile(...paths),
    frame: async (css) => {
      const inner = await (await frame.$(css)).contentFrame();
      return puppeteerBackend(inner, page);
    },
    screenshot: async () => Buffer.from(await page.screenshot({ encoding: 'base64' }), 'base64'),
    // CDP's CPU throttling, as DevTools applies it (Chromium only; Firefox's BiDi has none).
    throttle: async (rate) => page.emulateCPUThrottling(rate),
  };
}

async function launchPuppeteer(engine) {
  const puppeteer = require('puppeteer-core');
  const options =
    engine === 'chromium'
      ? { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS }
      : {
          browser: 'firefox',
          protocol: 'webDriverBiDi',
          executablePath: '/usr/bin/firefox-esr',
          headless: true,
          // Firefox ESR otherwise calls home at start, which this closed network refuses.
          extraPrefsFirefox: { 'network.captive-portal-service.enabled': false, 'app.update.enabled': false },
        };
  // A cold Firefox ESR on a busy 2-core machine sometimes takes longer than puppeteer's 30 s
  // to print its endpoint (seen twice on 2026-12-03, each time its first start in a run):
  // more time, and one more try, before the test fails for it.
  let browser;
  try {
    browser = await puppeteer.launch({ ...options, timeout: 90_000 });
  } catch (error) {
    console.warn(`${engine} did not start (${error.message}); trying once more`);
    browser = await puppeteer.launch({ ...options, timeout: 90_000 });
  }
  return {
    version: await browser.version(),
    contentPeakKb: () => contentPeakKb(engine, browser.process().pid),
    /** A fresh tab in a context of its own: no storage from an earlier test. */
    async newTab(origin) {
      const downloads = fs.mkdtempSync(path.join(os.tmpdir(), 'postsiegel-downloads-'));
      const context = await browser.createBrowserContext({
        downloadBehavior: { policy: 'allow', downloadPath: downloads },
      });
      const page = await context.newPage();
      const tab = new Tab(puppeteerBackend(page.mainFrame(), page), engine, origin, downloads);
      tab.close = async () => {
        await context.close();
        fs.rmSync(downloads, { recursive: true, force: true });
      };
      return tab;
    },
    close: () => browser.close(),
  };
}

/** A selenium WebDriver (WebKitWebDriver) as a Backend; `frames` is the path of frame
 * elements from the top document, entered before every command. */
function seleniumBackend(driver, frames) {
  const { By, Key } = require('selenium-webdriver');
  const enter = async () => {
    await driver.switchTo().defaultContent();
    for (const css of frames) await driver.switchTo().frame(await driver.findElement(By.css(css)));
  };
  const element = async (css) => {
    await enter();
    return driver.findElement(By.css(css));
  };
  return {
    goto: async (url) => {
      await driver.switchTo().defaultContent();
      await driver.get(url);
    },
    evaluate: async (fn, args) => {
      await enter();
      return driver.executeScript(`return (${fn})(...arguments)`, ...args);
    },
    type: async (css, text) => {
      const e = await element(css);
      // Into the field first, as a citizen does: WebKit will not type into a field in a frame
      // that has never had the focus ("Element is not focusable").
      await e.click();
      await e.clear();
      // A line break is the Enter key, as a citizen types it; WebKitWebDriver drops "\n".
      await e.sendKeys(text.replace(/\n/g, Key.ENTER));
    },
    click: async (css) => {
      await (await element(css)).click();
    },
    // WebDriver's way: the paths typed into the file input, one per line.
    upload: async (css, paths) => (await element(css)).sendKeys(paths.join('\n')),
    frame: async (css) => seleniumBackend(driver, [...frames, css]),
    screenshot: async () => Buffer.from(await driver.takeScreenshot(), 'base64'),
  };
}

/** Ends a process started `detached` and everything it started (its process group). */
function stopGroup(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** WebKitWebDriver under a virtual X display (MiniBrowser has no headless mode). */
async function launchWebKit() {
  const { Builder } = require('selenium-webdriver');
  const port = await freePort();
  // MiniBrowser saves downloads in the XDG download folder, which a config folder of our own
  // points at a temporary one.
  const config = fs.mkdtempSync(path.join(os.tmpdir(), 'postsiegel-webkit-'));
  const downloads = path.join(config, 'downloads');
  fs.mkdirSync(downloads);
  fs.writeFileSync(path.join(config, 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${downloads}"\n`);
  // A screen tall enough for a window that shows a framed form whole (see newTab).
  const driver = spawn('xvfb-run', ['-a', '-s', '-screen 0 1280x1600x24', '/usr/bin/WebKitWebDriver', `--port=${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, XDG_CONFIG_HOME: config },
  });
  let errors = '';
  driver.stderr.on('data', (chunk) => (errors += chunk));
  const stop = () => stopGroup(driver);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForDriver(url, driver, () => errors);
  } catch (error) {
    stop();
    throw error;
  }
  const capabilities = {
    browserName: 'MiniBrowser',
    'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
  };
  let version = 'WebKitGTK';
  return {
    contentPeakKb: () => contentPeakKb('webkit', driver.pid),
    get version() {
      return version;
    },
    /** A fresh session per tab: MiniBrowser starts in about a second, with empty storage. */
    async newTab(origin) {
      const session = await new Builder().usingServer(url).withCapabilities(capabilities).build();
      // WebKitWebDriver scrolls an element into its frame's view, but not the frame into the
      // window's (nor can the page, across origins): a window taller than a framed form.
      await session.manage().window().setRect({ width: 1280, height: 1500 });
      const caps = await session.getCapabilities();
      version = `WebKitGTK ${caps.get('browserVersion')}`;
      const tab = new Tab(seleniumBackend(session, []), 'webkit', origin, downloads);
      tab.close = () => session.quit();
      return tab;
    },
    close: async () => {
      stop();
      fs.rmSync(config, { recursive: true, force: true });
    },
  };
}

async function waitForDriver(url, child, errors) {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`WebKitWebDriver ended: ${errors()}`);
    try {
      const response = await fetch(`${url}/status`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`WebKitWebDriver did not answer on ${url}: ${errors()}`);
}

/**
 * Starts `engine`; the result makes tabs (`newTab(origin)`) and is closed with `close()`.
 * @param {Engine} engine
 */
async function launch(engine) {
  if (engine === 'webkit') return launchWebKit();
  if (engine === 'chromium' || engine === 'firefox') return launchPuppeteer(engine);
  throw new Error(`unknown engine ${engine}`);
}

module.exports = { ENGINES, CHROMIUM_ARGS, launch, Tab, freePort, stopGroup };
