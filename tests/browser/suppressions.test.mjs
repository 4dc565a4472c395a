// Suppressions in the dashboard: made from an alert's "suppress alerts like this one", a
// later burst is marked suppressed in the list and on its page and never reaches the sink; a
// canary's alerts are refused without the explicit box; ending one takes it off the list.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { ACCOUNT, cloudTrailRecord, startServer } from "./support/server.mjs";
import {
  alertPath, assertNoProblems, assertOwnHost, exists, login, recordedContext, text,
} from "./support/browser.mjs";

/** Six denied calls by `arn` from `sourceIp`, five seconds apart from `start`. */
function denials(arn, sourceIp, start) {
  return Array.from({ length: 6 }, (_, n) => ({
    ...cloudTrailRecord({ accessKeyId: "AKIAEXAMPLEDENIED001", arn, sourceIp, eventTime: new Date(start.getTime() + n * 5_000) }),
    eventSource: "s3.amazonaws.com",
    eventName: "ListBuckets",
    errorCode: "AccessDenied",
    errorMessage: "User is not authorized to perform: s3:ListAllMyBuckets",
  }));
}

/** The dedup key of the access-denied-burst alert of `arn` whose burst began at `start`. */
async function burstKey(server, arn, start) {
  const listed = await server.apiOk("GET", "/api/v1/alerts?rule=access-denied-burst&limit=500");
  const found = listed.alerts.find((alert) => alert.details.principal_key === arn
    && alert.details.first_time === start.toISOString().replace(".000Z", "Z"));
  assert.ok(found, `a burst of ${arn} from ${start.toISOString()} is stored: ${JSON.stringify(listed.alerts.map((a) => a.dedup_key))}`);
  return found;
}

describe("suppressions", { timeout: 180_000 }, () => {
  let server;
  let browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a suppression made from an alert marks the next burst and keeps it from the sink", { timeout: 120_000 }, async () => {
    const arn = `arn:aws:iam::${ACCOUNT}:user/ci-terraform`;
    const firstStart = new Date(Date.UTC(2026, 11, 4, 6, 0, 0));
    const laterStart = new Date(Date.UTC(2026, 11, 4, 9, 0, 0));
    await server.ingest(denials(arn, "10.20.1.5", firstStart));
    const first = await burstKey(server, arn, firstStart);
    assert.equal(first.suppressed_by, undefined, "the first burst came before any suppression");

    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken, { next: alertPath(first.dedup_key) });
      assert.ok(!(await exists(page, "#suppressed")), "an unsuppressed alert has no suppression notice");
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/suppressions"),
        page.click("#suppress-similar"),
      ]);
      assert.equal(await page.inputValue("#sup-rule"), "access-denied-burst", "the rule is filled in");
      assert.equal(await page.inputValue("#sup-principal"), arn, "the principal is filled in");
      assert.equal(await page.inputValue("#sup-source"), "10.20.1.5/32", "the source is filled in");
      await page.fill("#sup-source", "10.20.0.0/16");
      await page.fill("#sup-for", "7d");
      await page.fill("#sup-reason", "terraform plan in CI <b>nightly</b>");
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/suppressions" && url.search === ""),
        page.click("form#create-suppression button[type=submit]"),
      ]);
      const rows = await page.$$eval("table#suppression-list tr[data-suppression]", (found) => found.map((row) => ({
        id: row.dataset.suppression, text: row.textContent.replace(/\s+/g, " "),
      })));
      assert.equal(rows.length, 1, `one suppression is in force: ${JSON.stringify(rows)}`);
      const [made] = rows;
      assert.ok(made.text.includes("source = 10.20.0.0/16") && made.text.includes(`principal = ${arn}`), made.text);
      assert.ok(made.text.includes("terraform plan in CI <b>nightly</b>"), `the reason is shown as text: ${made.text}`);
      assert.equal(await page.$$eval("main b", (nodes) => nodes.length), 0, "the reason's markup is not markup");

      // A later burst of the same principal from the suppressed network.
      await server.ingest(denials(arn, "10.20.7.9", laterStart));
      const later = await burstKey(server, arn, laterStart);
      assert.equal(later.suppressed_by, made.id, "the API marks the later burst");

      await page.goto("/alerts?rule=access-denied-burst");
      const badge = `table#alert-list tr:has(a[href="${alertPath(later.dedup_key)}"]) .suppressed`;
      assert.ok(await exists(page, badge), "the list marks the suppressed burst");
      assert.equal(await page.$$eval("table#alert-list .suppressed", (nodes) => nodes.length), 1, "and only it");
      await page.selectOption("#suppressed", "true");
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get("suppressed") === "true"),
        page.click("form.filters button[type=submit]"),
      ]);
      const onlySuppressed = await page.$$eval("table#alert-list tr[data-rule] a", (links) => links.map((link) => link.getAttribute("href")));
      assert.deepEqual(onlySuppressed, [alertPath(later.dedup_key)], "the Notified filter lists the suppressed burst alone");
      await page.goto(alertPath(later.dedup_key));
      const notice = await text(page, "#suppressed");
      assert.ok(notice?.includes(made.id) && notice.includes("terraform plan in CI"), `the alert page says why it was not sent: ${notice}`);

      // The sink took the first burst and nothing of the later one.
      const sinkFile = path.join(server.dir, "alerts.jsonl");
      let sent = "";
      for (let tries = 0; tries < 50 && !sent.includes(first.dedup_key); tries += 1) {
        sent = await readFile(sinkFile, "utf8").catch(() => "");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(sent.includes(first.dedup_key), "the unsuppressed burst was sent");
      assert.ok(!sent.includes(later.dedup_key), "the suppressed burst was not sent");

      // Ending it takes it off the list of those in force.
      await page.goto("/suppressions");
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/suppressions"),
        page.click(`tr[data-suppression="${made.id}"] button[type=submit]`),
      ]);
      assert.ok((await text(page, "main")).includes("No suppression is in force"), "it is ended");
      await page.goto("/suppressions?all=true");
      assert.ok((await text(page, `tr[data-suppression="${made.id}"]`)).includes("removed"), "the full list shows it ended");

      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });

  test("a canary's alerts are suppressed only with the explicit box, and a viewer gets no form", { timeout: 90_000 }, async () => {
    const { canary } = await server.createCanary({ labels: { owner: "grace" } });
    const answer = await server.ingest([cloudTrailRecord({ accessKeyId: canary.access_key_id })]);
    const key = await server.alertKeyFor(answer, canary.name);

    const { context, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken, { next: alertPath(key) });
      await page.click("#suppress-similar");
      await page.waitForURL((url) => url.pathname === "/suppressions");
      assert.equal(await page.inputValue("#sup-rule"), "canary-use");
      assert.ok(!(await page.isChecked("#sup-canaries")), "the box starts unchecked");
      const principal = await page.inputValue("#sup-principal");
      await page.fill("#sup-reason", "red-team exercise");
      const [refused] = await Promise.all([
        page.waitForResponse((response) => response.request().method() === "POST" && new URL(response.url()).pathname === "/suppressions"),
        page.click("form#create-suppression button[type=submit]"),
      ]);
      assert.equal(refused.status(), 400, "the refusal is a 400");
      await page.waitForSelector("#suppression-refused");
      const refusal = await text(page, "#suppression-refused");
      assert.ok(refusal?.includes("include_canaries") || refusal?.includes("include-canaries"), `refused, saying how: ${refusal}`);
      const none = await server.apiOk("GET", "/api/v1/suppressions");
      assert.deepEqual(none.suppressions, [], "nothing was made");
      assert.equal(await page.inputValue("#sup-rule"), "canary-use", "the refused form keeps its rule");
      assert.equal(await page.inputValue("#sup-principal"), principal, "and its principal");
      assert.equal(await page.inputValue("#sup-reason"), "red-team exercise", "and its reason");

      await page.fill("#sup-reason", "red-team exercise, approved");
      await page.check("#sup-canaries");
      await Promise.all([
        page.waitForResponse((response) => response.request().method() === "GET" && new URL(response.url()).pathname === "/suppressions"),
        page.click("form#create-suppression button[type=submit]"),
      ]);
      await page.waitForLoadState();
      assert.ok((await text(page, "table#suppression-list")).includes("covers canary alerts"), "it says it covers canary alerts");
      const audit = await server.apiOk("GET", "/api/v1/audit?limit=50");
      const creations = audit.entries.filter((entry) => entry.action === "suppression.create").map((entry) => entry.outcome);
      assert.ok(creations.includes("denied") && creations.includes("allowed"), `both attempts are audited: ${creations}`);
      const covered = audit.entries.find((entry) => entry.action === "suppression.create" && entry.outcome === "allowed" && entry.detail.covers_canaries);
      assert.ok(covered, "the audit log records that the suppression covers canary alerts");
      assertNoProblems(problems.filter((problem) => !/status of 400/.test(problem)));
    } finally {
      await context.close();
    }

    const viewerToken = await server.createToken("suppression-viewer", ["viewer"]);
    const viewer = await recordedContext(browser, server);
    try {
      const page = await viewer.context.newPage();
      await login(page, viewerToken, { next: "/suppressions" });
      assert.ok(await exists(page, "table#suppression-list"), "a viewer sees the suppressions");
      assert.ok(!(await exists(page, "form#create-suppression")), "but no form to make one");
      assert.ok(!(await exists(page, "table#suppression-list button")), "and no button to end one");
      assertNoProblems(viewer.problems);
    } finally {
      await viewer.context.close();
    }
  });
});
