// Shared launcher for the browser tests (tests/browser/*.test.mjs), run by scripts/test.
//
//   import { launchChromium } from "./support/chromium.mjs";
//   const browser = await launchChromium();
//   try { const page = await browser.newPage(); ... } finally { await browser.close(); }
//
// Uses Debian's chromium (TRIPKEY_TEST_CHROMIUM, set by scripts/test) through playwright-core;
// playwright never downloads a browser of its own here.
import { chromium } from "playwright-core";

// Headless, no sandbox (the tests may run as root), and none of Chromium's own network traffic:
// this machine reaches no host but loopback, and refused background connections only add noise.
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

export function chromiumPath() {
  const path = process.env.TRIPKEY_TEST_CHROMIUM;
  if (!path) {
    throw new Error("TRIPKEY_TEST_CHROMIUM is not set: run the browser tests through scripts/test");
  }
  return path;
}

export async function launchChromium(options = {}) {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: CHROMIUM_ARGS,
    ...options,
  });
}
