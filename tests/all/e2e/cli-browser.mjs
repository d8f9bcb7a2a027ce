// Browser driver for tests/all/e2e/cli_browser.rs: headless Chromium (Debian's, driven by
// playwright-core) opens the URL `fedbroker login` printed (the device grant's
// verification_uri_complete, or the loopback grant's /oauth/authorize URL), is asked to sign in,
// signs in at the real OIDC test IdP (button #login), comes back to the broker's approval page,
// and clicks Approve. It prints ONE line of JSON with what it saw (paths and booleans, never a URL
// that carries a code); the Rust test judges it.
//
// Environment: E2E_URL (what the CLI printed), E2E_BROKER_URL, E2E_OIDC_PROVIDER, E2E_MODE
// (`device` or `loopback`), E2E_CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';

const env = process.env;
const need = (k) => env[k] || fail(`${k} is not set`);
const url = need('E2E_URL');
const broker = need('E2E_BROKER_URL');
const provider = need('E2E_OIDC_PROVIDER');
const mode = need('E2E_MODE');

function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(2);
}

const out = { mode };
const browser = await chromium.launch({ executablePath: env.E2E_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
try {
  // The OIDC test IdP's certificate comes from the test's own CA.
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
  page.setDefaultTimeout(15000);
  const first = await page.goto(url);
  out.first_status = first.status();
  await page.click(`a[href="/oidc/login?provider=${encodeURIComponent(provider)}"]`);
  await page.waitForSelector('#login');
  await Promise.all([page.waitForSelector('button[value="approve"]'), page.click('#login')]);
  const back = new URL(page.url());
  out.approval_path = back.pathname;
  const text = await page.textContent('main');
  out.says_what_approving_does = /Approv/.test(text) && /fedbroker logout/.test(text);
  if (mode === 'device') {
    await Promise.all([page.waitForSelector('text=Approved'), page.click('button[value="approve"]')]);
    out.approved = true;
  } else {
    await Promise.all([
      page.waitForURL((u) => !u.href.startsWith(broker)),
      page.click('button[value="approve"]'),
    ]);
    const landed = new URL(page.url());
    out.landed_host = landed.host.replace(/:\d+$/, '');
    out.landed_path = landed.pathname;
    out.approved = true;
  }
} catch (err) {
  out.error = String(err && err.message || err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
