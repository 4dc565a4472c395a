// Canaries in the dashboard: issuing one from the form with labels and a memo (after fixing a
// refused label line), copying its credentials from the one-time reveal, finding it by label,
// and revoking one.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { startServer } from "./support/server.mjs";
import { assertNoProblems, assertOwnHost, exists, login, rawText, recordedContext, text } from "./support/browser.mjs";

describe("canaries", { timeout: 180_000 }, () => {
  let server;
  let browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("issue a canary from the form, copy its credentials profile, find it by label", { timeout: 90_000 }, async () => {
    const owner = `alice-${randomBytes(3).toString("hex")}`;
    // Another canary, of someone else, that the label filter must leave out.
    const { canary: other } = await server.createCanary({ labels: { owner: "bob", host: "bob-laptop" } });
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.origin });
      const page = await context.newPage();
      await login(page, server.adminToken, { next: "/canaries" });
      assert.ok(await exists(page, "a#new-canary"), "an admin sees the 'Issue a canary' link");
      assert.equal(await text(page, "a#new-canary"), "Issue a canary");
      await Promise.all([page.waitForURL("**/canaries/new"), page.click("a#new-canary")]);

      const form = "form#create-canary";
      assert.ok(await exists(page, form), "the create form is on /canaries/new");
      assert.match(await page.$eval("#account", (select) => select.value), /^\d{12}$/, "an account is chosen by default");
      await page.selectOption("#kind", "iam-user");
      await page.fill("#owner", owner);
      await page.fill("#host", "build-07");
      await page.fill("#location", "~/.aws/credentials");
      await page.fill("#labels", "team=payments\nticket SEC-1234\n");
      await page.fill("#memo", "planted by the browser test; nothing uses it");
      await page.fill("#profile", "legacy-deploy");
      // A label line without "=" is refused: the form comes back with the reason and every
      // field as typed, so fixing the one line is all it takes.
      const [refused] = await Promise.all([
        page.waitForResponse((response) => response.url() === server.url("/canaries") && response.request().method() === "POST"),
        page.click(`${form} button[type=submit]`),
      ]);
      await page.waitForLoadState();
      assert.equal(refused.status(), 400, "a label that is not key=value is refused");
      assert.match(await text(page, "#canary-refused"), /"ticket SEC-1234" is not key=value/);
      assert.equal(await page.inputValue("#owner"), owner, "the owner is kept");
      assert.equal(await page.inputValue("#memo"), "planted by the browser test; nothing uses it", "the memo is kept");
      assert.equal(await page.inputValue("#profile"), "legacy-deploy", "the profile is kept");
      assert.equal(await page.inputValue("#labels"), "team=payments\nticket SEC-1234\n", "the labels are kept as typed");
      await page.fill("#labels", "team=payments\nticket = SEC-1234\n");
      const [created] = await Promise.all([
        page.waitForResponse((response) => response.url() === server.url("/canaries") && response.request().method() === "POST"),
        page.click(`${form} button[type=submit]`),
      ]);
      await page.waitForLoadState();
      assert.equal(created.status(), 200, "issuing answers with the reveal page");
      assert.equal(created.headers()["cache-control"], "no-store", "the reveal page is never cached");

      // The reveal page: one block per format, each with its copy button.
      const heading = await text(page, "h1");
      const name = heading.match(/^Canary issued: (\S+)$/)?.[1];
      assert.ok(name, `the reveal page names the canary: ${JSON.stringify(heading)}`);
      const accessKey = await text(page, "#access-key-id");
      assert.match(accessKey, /^AKIA[A-Z0-9]{16}$/, "the reveal page shows the access key ID");
      for (const id of ["credentials-credentials-profile", "credentials-env", "credentials-dotenv", "credentials-json"]) {
        assert.ok(await exists(page, `pre#${id}`), `the reveal page has pre#${id}`);
        assert.ok(await exists(page, `button[data-copy="${id}"]`), `the reveal page has a copy button for ${id}`);
      }
      const chips = await page.$$eval("main .facts .chip", (nodes) => nodes.map((node) => node.textContent.trim()));
      for (const label of [`owner=${owner}`, "host=build-07", "location=~/.aws/credentials", "team=payments", "ticket=SEC-1234"]) {
        assert.ok(chips.includes(label), `the reveal page lists the label ${label} (it lists ${JSON.stringify(chips)})`);
      }

      const profile = await rawText(page, "pre#credentials-credentials-profile");
      assert.match(profile, /^\[legacy-deploy\]/m, "the profile block uses the profile name asked for");
      assert.ok(profile.includes(`aws_access_key_id = ${accessKey}`), "the profile block holds the access key");
      assert.match(profile, /aws_secret_access_key = \S{40}/, "the profile block holds the secret key");
      const button = 'button[data-copy="credentials-credentials-profile"]';
      await page.click(button);
      await page.waitForFunction((selector) => document.querySelector(selector).textContent === "Copied", button);
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(copied, profile, "the Copy button puts exactly the profile block on the clipboard");
      assert.ok(copied.includes("aws_access_key_id = AKIA"), "the clipboard holds an AWS credentials profile");
      const env = await rawText(page, "pre#credentials-env");
      assert.ok(env.includes(`AWS_ACCESS_KEY_ID=${accessKey}`) || env.includes(`AWS_ACCESS_KEY_ID='${accessKey}'`), `the env block exports the key: ${env}`);
      const json = JSON.parse(await rawText(page, "pre#credentials-json"));
      assert.equal(json.AccessKeyId, accessKey, "the credential_process JSON carries the key");

      // The list, filtered by one label, shows this canary with its labels and not the other.
      await page.goto("/canaries");
      await page.fill("#label", `owner=${owner}`);
      await Promise.all([
        page.waitForURL((url) => url.searchParams.get("label") === `owner=${owner}`),
        page.click("form.filters button[type=submit]"),
      ]);
      const rows = await page.$$eval("table#canary-list tr[data-canary]", (nodes) => nodes.map((node) => node.dataset.canary));
      assert.deepEqual(rows, [name], `filtering by owner=${owner} shows only the new canary`);
      assert.ok(!rows.includes(other.name), "the other owner's canary is filtered out");
      const row = `tr[data-canary="${name}"]`;
      const rowChips = await page.$$eval(`${row} .chip`, (nodes) => nodes.map((node) => node.textContent.trim()));
      for (const label of [`owner=${owner}`, "host=build-07", "location=~/.aws/credentials", "team=payments", "ticket=SEC-1234"]) {
        assert.ok(rowChips.includes(label), `the row lists the label ${label} (it lists ${JSON.stringify(rowChips)})`);
      }
      assert.ok((await text(page, row)).includes(accessKey), "the row shows the access key ID");
      assert.equal(await page.$eval("#label", (input) => input.value), `owner=${owner}`, "the filter keeps what was asked");

      // Its detail page has the memo.
      await Promise.all([page.waitForURL("**/canaries/*"), page.click(`${row} a`)]);
      assert.equal(await text(page, "h1"), name, "the row links to the canary");
      assert.equal(await text(page, "#status"), "active", "a new canary is active");
      assert.ok((await text(page, "main")).includes("planted by the browser test; nothing uses it"), "the detail shows the memo");

      // The API agrees: the labels and memo were stored as typed.
      const listed = await server.apiOk("GET", `/api/v1/canaries?label=owner:${owner}`);
      assert.equal(listed.canaries.length, 1, "the API finds the one canary by the same label");
      assert.deepEqual(listed.canaries[0].labels, {
        owner, host: "build-07", location: "~/.aws/credentials", team: "payments", ticket: "SEC-1234",
      }, "the labels were stored as typed");
      assert.equal(listed.canaries[0].memo, "planted by the browser test; nothing uses it");
      // The refused form's 400 is logged by the browser as a failed load; nothing else may be.
      assertNoProblems(problems.filter((problem) => !/status of 400/.test(problem)));
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });

  test("revoke a canary through its confirmation page", { timeout: 60_000 }, async () => {
    const { canary } = await server.createCanary({ labels: { owner: "carol", host: "ci-runner-3" } });
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken, { next: `/canaries/${canary.id}` });
      assert.equal(await text(page, "#status"), "active", "the canary starts active");
      assert.ok(await exists(page, "a#rotate"), "an admin sees Rotate");
      await Promise.all([page.waitForURL(`**/canaries/${canary.id}/revoke`), page.click("a#revoke")]);

      assert.ok(await exists(page, "form#confirm-revoke"), "Revoke asks first, on a confirmation page");
      assert.equal(await text(page, "h1"), `Revoke ${canary.name}?`);
      // Nothing happened yet.
      const before = await server.apiOk("GET", `/api/v1/canaries/${canary.id}`);
      assert.equal(before.canary.status, "active", "opening the confirmation page revokes nothing");

      await page.fill("#reason", "host decommissioned (browser test)");
      await Promise.all([
        page.waitForURL((url) => url.pathname === `/canaries/${canary.id}`),
        page.click("form#confirm-revoke button[type=submit]:has-text('Revoke')"),
      ]);
      assert.equal(await text(page, "#status"), "revoked", "after revoking, the detail shows the canary revoked");
      assert.ok(!(await exists(page, "a#revoke")), "a revoked canary offers no Revoke");
      assert.ok(!(await exists(page, "a#rotate")), "a revoked canary offers no Rotate");
      assert.ok((await text(page, "#timeline")).includes("host decommissioned (browser test)"), "the timeline records the reason");

      const after = await server.apiOk("GET", `/api/v1/canaries/${canary.id}`);
      assert.equal(after.canary.status, "revoked", "the API shows the canary revoked");

      await page.goto(`/canaries?status=revoked`);
      assert.ok(await exists(page, `tr[data-canary="${canary.name}"]`), "the list filtered on revoked shows it");
      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });

  test("a form without the session's CSRF token changes nothing", { timeout: 60_000 }, async () => {
    const { canary } = await server.createCanary({ labels: { owner: "dave" } });
    const { context, requests } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, server.adminToken, { next: `/canaries/${canary.id}` });
      const answer = await page.evaluate(async (id) => {
        const response = await fetch(`/canaries/${id}/revoke`, {
          method: "POST",
          body: new URLSearchParams({ csrf: "forged", reason: "forged" }),
          redirect: "manual",
        });
        return response.status;
      }, canary.id);
      assert.equal(answer, 403, "a revoke with a wrong CSRF token is refused");
      const after = await server.apiOk("GET", `/api/v1/canaries/${canary.id}`);
      assert.equal(after.canary.status, "active", "the canary is still active");
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });
});
