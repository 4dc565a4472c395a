// Browser helpers for the dashboard tests: contexts that record every request they make,
// logging in through the form, and the checks most tests end with.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { ROOT } from "./server.mjs";

export const SCREENSHOTS = path.join(ROOT, "target", "screenshots");

/** How long one browser action or navigation may take (the machine is shared and slow). */
export const ACTION_TIMEOUT = 20_000;

/**
 * A new context on `server` that records the URL of every request its pages make, and every
 * console error, page error and dialog. Returns `{context, requests, problems}`.
 */
export async function recordedContext(browser, server, options = {}) {
  const context = await browser.newContext({
    baseURL: server.origin,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  context.setDefaultTimeout(ACTION_TIMEOUT);
  context.setDefaultNavigationTimeout(ACTION_TIMEOUT);
  const requests = [];
  const problems = [];
  context.on("request", (request) => requests.push(request.url()));
  context.on("page", (page) => watchPage(page, problems));
  return { context, requests, problems };
}

function watchPage(page, problems) {
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error on ${page.url()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error on ${page.url()}: ${error.message}`));
  page.on("dialog", async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened on ${page.url()}: ${JSON.stringify(dialog.message())}`);
    await dialog.dismiss().catch(() => {});
  });
}

/** Fails unless every recorded request went to the server itself (data: URLs aside). */
export function assertOwnHost(requests, server) {
  assert.ok(requests.length > 0, "the pages made no request at all");
  const elsewhere = requests.filter((url) => {
    if (url.startsWith("data:")) return false;
    const parsed = new URL(url);
    return parsed.protocol !== "http:" || parsed.host !== server.host;
  });
  assert.deepEqual(elsewhere, [], `requests to somewhere other than ${server.host}`);
}

/** Fails if any page logged an error, threw, or opened a dialog. */
export function assertNoProblems(problems) {
  assert.deepEqual(problems, [], "console errors, page errors or dialogs");
}

/** Logs in through the form with `token` and waits for the page it leads to. */
export async function login(page, token, { next = "/" } = {}) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.fill("#token", token);
  await Promise.all([
    page.waitForURL((url) => url.pathname !== "/login"),
    page.click("main.login button[type=submit]"),
  ]);
}

/** The text of `selector` with whitespace runs collapsed, or null when absent. */
export async function text(page, selector) {
  const element = await page.$(selector);
  if (!element) return null;
  return (await element.textContent()).replace(/\s+/g, " ").trim();
}

/** The raw textContent of `selector` (whitespace kept), failing when it is absent. */
export async function rawText(page, selector) {
  const element = await page.$(selector);
  assert.ok(element, `${selector} is on ${page.url()}`);
  return element.textContent();
}

/** Whether `selector` matches anything on the page. */
export async function exists(page, selector) {
  return (await page.$(selector)) !== null;
}

/** Saves a full-page screenshot as target/screenshots/NAME.png. */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The overview's response figures: `{figures: {name: {median, p90, count}}, fidelity, note}`. */
export async function responseFigures(page) {
  return page.$eval("#response", (section) => {
    const figures = {};
    for (const row of section.querySelectorAll("tr[data-figure]")) {
      const cells = [...row.querySelectorAll("td")].map((cell) => cell.textContent.trim());
      figures[row.dataset.figure] = { median: cells[1], p90: cells[2], count: Number(cells[3]) };
    }
    const fidelity = section.querySelector("#fidelity")?.textContent.trim() ?? null;
    const note = section.querySelector("#fidelity")?.parentElement.textContent.replace(/\s+/g, " ").trim() ?? "";
    return { figures, fidelity, note };
  });
}

/** Path of an alert's detail page (its dedup key as one path segment). */
export function alertPath(dedupKey) {
  return `/alerts/${encodeURIComponent(dedupKey)}`;
}
