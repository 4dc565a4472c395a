// Alerts in the dashboard: text an attacker wrote stays text, and handling an alert from its
// page moves the overview's response figures.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { cloudTrailRecord, startServer } from "./support/server.mjs";
import {
  alertPath, assertNoProblems, assertOwnHost, exists, login, rawText, recordedContext, responseFigures, text,
} from "./support/browser.mjs";

describe("alerts", { timeout: 180_000 }, () => {
  let server;
  let browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a hostile user agent and ARN show as text and run nothing", { timeout: 60_000 }, async () => {
    const hostile = await server.hostileAlert({ owner: "mallory-test", host: "<b>bold-host</b>" });
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken, { next: "/alerts" });

      // The list: the ARN is shown as text in the principal column.
      const row = `table#alert-list tr[data-rule="canary-use"]:has(a[href="${alertPath(hostile.dedupKey)}"])`;
      assert.ok(await exists(page, row), "the alert is listed under canary-use");
      const principal = await page.$eval(`${row} td.mono`, (cell) => cell.textContent);
      assert.equal(principal, hostile.arn, "the list shows the ARN exactly as the attacker wrote it");
      await checkInert(page, "the alert list");

      const [answer] = await Promise.all([
        page.waitForResponse((response) => response.url() === server.url(alertPath(hostile.dedupKey))),
        page.click(`${row} a`),
      ]);
      await page.waitForLoadState();
      assert.equal(answer.status(), 200);
      const csp = answer.headers()["content-security-policy"] ?? "";
      assert.match(csp, /script-src 'self'(;|$)/, `the alert page forbids inline script: ${csp}`);

      assert.equal(await rawText(page, 'dd[data-fact="User agent"]'), hostile.userAgent, "the user agent is shown exactly as written");
      assert.equal(await rawText(page, 'dd[data-fact="Principal"]'), hostile.arn, "the ARN is shown exactly as written");
      assert.ok(await page.isVisible('dd[data-fact="User agent"]'), "the user agent is visible");
      assert.ok(await page.isVisible('dd[data-fact="Principal"]'), "the ARN is visible");
      const visible = await page.innerText("main");
      assert.ok(visible.includes(hostile.userAgent), "the page's visible text holds the user agent as text");
      assert.ok(visible.includes("<script>alert(2)</script>"), "the page's visible text holds the ARN's script tag as text");
      assert.ok((await rawText(page, "pre#raw")).includes("onerror=alert(1)"), "the raw alert shows the user agent too");
      assert.ok((await text(page, "section#playbook")).length > 0, "the playbook is there");
      await checkInert(page, "the alert page");

      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });

  test("acknowledging and resolving from the alert page moves the response figures", { timeout: 90_000 }, async () => {
    // Two alerts of this test's own canaries: one acknowledged then resolved as a false
    // positive, the other resolved straight away as real.
    const first = await server.hostileAlert({ owner: "erin" });
    const { canary } = await server.createCanary({ labels: { owner: "frank" } });
    const secondAnswer = await server.ingest([cloudTrailRecord({ accessKeyId: canary.access_key_id })]);
    const second = await server.alertKeyFor(secondAnswer, canary.name);

    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken);
      const start = await responseFigures(page);
      const count = (figures, name) => {
        assert.ok(figures.figures[name], `the overview has the row "${name}" (it has ${Object.keys(figures.figures)})`);
        return figures.figures[name].count;
      };
      const resolvedBefore = Number(start.note.match(/of (\d+) resolved/)?.[1]);
      const falseBefore = Number(start.note.match(/\((\d+) false positives?\)/)?.[1]);
      assert.ok(Number.isInteger(resolvedBefore) && Number.isInteger(falseBefore), `the overview counts resolved alerts: ${start.note}`);
      if (resolvedBefore === 0) assert.equal(start.fidelity, "–", "with nothing resolved, fidelity is a dash");
      assert.ok(count(start, "Time to detect") >= 2, "both new alerts count in time to detect");

      // Acknowledge the first, with a note.
      await page.goto(alertPath(first.dedupKey));
      assert.equal(await text(page, "#state"), "open");
      assert.ok(await exists(page, "form#acknowledge"), "an admin can acknowledge an open alert");
      await page.fill("#ack-note", "looking into it <em>now</em>");
      await Promise.all([
        page.waitForURL((url) => url.pathname === alertPath(first.dedupKey)),
        page.click("form#acknowledge button[type=submit]"),
      ]);
      assert.equal(await text(page, "#state"), "acknowledged", "the alert is acknowledged");
      const handled = await text(page, "#handling");
      assert.ok(handled.includes("looking into it <em>now</em>"), `the handling shows the note as text: ${handled}`);
      assert.equal(await page.$$eval("#handling em", (nodes) => nodes.length), 0, "the note's markup is not markup");
      assert.ok(!(await exists(page, "form#acknowledge")), "an acknowledged alert offers no Acknowledge");

      await page.goto("/");
      const acknowledged = await responseFigures(page);
      assert.equal(count(acknowledged, "Time to acknowledge"), count(start, "Time to acknowledge") + 1, "the overview counts one more acknowledged alert");
      assert.notEqual(acknowledged.figures["Time to acknowledge"].median, "–", "time to acknowledge has a median");
      assert.equal(count(acknowledged, "Time to resolve"), count(start, "Time to resolve"), "nothing more is resolved yet");

      // Resolve it as a false positive.
      await page.goto(alertPath(first.dedupKey));
      await page.fill("#resolve-note", "our own scanner");
      await page.check("form#resolve input[name=false_positive]");
      await Promise.all([
        page.waitForURL((url) => url.pathname === alertPath(first.dedupKey)),
        page.click("form#resolve button[type=submit]"),
      ]);
      assert.equal(await text(page, "#state"), "resolved", "the alert is resolved");
      assert.ok((await text(page, "#handling")).includes("our own scanner"), "the handling shows the resolve note");
      assert.ok(!(await exists(page, "form#resolve")), "a resolved alert offers no Resolve");
      const firstView = await server.apiOk("GET", `/api/v1/alerts/${encodeURIComponent(first.dedupKey)}`);
      assert.equal(firstView.handling.false_positive, true, "the API records the false positive");
      assert.equal(firstView.handling.note, "our own scanner");

      await page.goto("/");
      const falsePositive = await responseFigures(page);
      assert.equal(count(falsePositive, "Time to resolve"), count(start, "Time to resolve") + 1, "the overview counts one more resolved alert");
      const expected = (real, resolved) => `${Math.round((real / resolved) * 100)}%`;
      assert.equal(falsePositive.fidelity, expected(resolvedBefore - falseBefore, resolvedBefore + 1),
        "fidelity counts the false positive (0% when it is the only resolved alert)");
      if (resolvedBefore === 0) assert.equal(falsePositive.fidelity, "0%");

      // Resolve the second as real, without acknowledging it first.
      await page.goto(alertPath(second));
      await page.fill("#resolve-note", "a real use: key rotated, host rebuilt");
      await Promise.all([
        page.waitForURL((url) => url.pathname === alertPath(second)),
        page.click("form#resolve button[type=submit]"),
      ]);
      assert.equal(await text(page, "#state"), "resolved");
      await page.goto("/");
      const real = await responseFigures(page);
      assert.equal(count(real, "Time to resolve"), count(start, "Time to resolve") + 2, "both resolved alerts count");
      assert.equal(count(real, "Time to acknowledge"), count(start, "Time to acknowledge") + 2,
        "resolving an unacknowledged alert counts as its acknowledgement too");
      assert.equal(real.fidelity, expected(resolvedBefore - falseBefore + 1, resolvedBefore + 2), "fidelity counts the real alert");
      if (resolvedBefore === 0) assert.equal(real.fidelity, "50%");
      assert.match(real.note, new RegExp(`of ${resolvedBefore + 2} resolved alerts`), `the note counts the resolved alerts: ${real.note}`);

      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });
});

/** Fails if hostile markup became elements: an img with src=x, an inline script, handlers. */
async function checkInert(page, where) {
  const found = await page.evaluate(() => ({
    images: [...document.querySelectorAll("img")].map((img) => img.getAttribute("src")),
    scripts: [...document.querySelectorAll("script")].map((script) => script.getAttribute("src")),
    handlers: [...document.querySelectorAll("*")]
      .flatMap((element) => [...element.attributes].filter((attr) => /^on/i.test(attr.name)).map((attr) => `${element.tagName}[${attr.name}]`)),
    bold: document.querySelectorAll("main b").length,
  }));
  assert.deepEqual(found.images.filter((src) => src === "x"), [], `${where}: no img[src=x] element exists`);
  assert.deepEqual(found.scripts, ["/assets/app.js"], `${where}: the only script is /assets/app.js`);
  assert.deepEqual(found.handlers, [], `${where}: no element has an inline event handler`);
  assert.equal(found.bold, 0, `${where}: a label's markup is not markup`);
}
