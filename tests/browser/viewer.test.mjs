// A viewer token in the dashboard: it sees everything but is offered no action, and the
// server refuses the actions anyway, through the dashboard's forms and through the API.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { startServer } from "./support/server.mjs";
import { alertPath, assertNoProblems, assertOwnHost, exists, login, recordedContext, text } from "./support/browser.mjs";

describe("viewer", { timeout: 120_000 }, () => {
  let server;
  let browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("a viewer sees no controls, and the server refuses its actions", { timeout: 90_000 }, async () => {
    const viewerToken = await server.createToken("soc-viewer", ["viewer"]);
    const alert = await server.hostileAlert({ owner: "grace" });
    const { canary } = alert;
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, viewerToken);
      assert.equal(await text(page, "h1"), "Overview", "a viewer lands on the overview");
      assert.match(await text(page, "header .who"), /^soc-viewer · viewer$/, "the header names the viewer");

      await page.goto("/canaries");
      assert.ok(await exists(page, `tr[data-canary="${canary.name}"]`), "a viewer sees the canaries");
      assert.ok(!(await exists(page, "a#new-canary")), "a viewer is not offered 'Issue a canary'");

      await page.goto(`/canaries/${canary.id}`);
      assert.equal(await text(page, "h1"), canary.name, "a viewer sees a canary's detail");
      assert.ok(!(await exists(page, "a#revoke")), "a viewer is not offered Revoke");
      assert.ok(!(await exists(page, "a#rotate")), "a viewer is not offered Rotate");

      await page.goto(alertPath(alert.dedupKey));
      assert.equal(await text(page, "#state"), "open", "a viewer sees the alert");
      assert.ok(await exists(page, "section#playbook"), "a viewer sees the playbook");
      assert.ok(!(await exists(page, "form#acknowledge")), "a viewer is not offered Acknowledge");
      assert.ok(!(await exists(page, "form#resolve")), "a viewer is not offered Resolve");

      await page.goto("/settings");
      assert.ok(await exists(page, "#sinks"), "a viewer sees the sinks");
      assert.ok(!(await exists(page, "form#create-token")), "a viewer is not offered a new token");
      assert.equal(await page.$$eval("#sinks form", (forms) => forms.length), 0, "a viewer is not offered a sink test");

      const newPage = await page.goto("/canaries/new");
      assert.equal(newPage.status(), 403, "the create form is refused to a viewer");
      assert.equal(await text(page, "h1"), "Not allowed");

      // The forms a viewer is not shown, posted anyway with the session's own CSRF token
      // (the logout form in the header carries it): every one is refused.
      await page.goto("/");
      const csrf = await page.$eval("header form[action='/logout'] input[name=csrf]", (input) => input.value);
      assert.ok(csrf.length >= 20, "the logout form carries the CSRF token");
      const post = (path, fields) => page.evaluate(async ([path, fields]) => {
        const response = await fetch(path, { method: "POST", body: new URLSearchParams(fields), redirect: "manual" });
        return { status: response.status, text: await response.text() };
      }, [path, { csrf, ...fields }]);
      const revoke = await post(`/canaries/${canary.id}/revoke`, { reason: "a viewer tries" });
      assert.equal(revoke.status, 403, `the dashboard refuses a viewer's revoke: ${revoke.status}`);
      assert.match(revoke.text, /Not allowed/, "the refusal is the error page");
      const rotate = await post(`/canaries/${canary.id}/rotate`, { short_term: "false" });
      assert.equal(rotate.status, 403, "the dashboard refuses a viewer's rotate");
      const acknowledge = await post(`${alertPath(alert.dedupKey)}/acknowledge`, { note: "a viewer tries" });
      assert.equal(acknowledge.status, 403, "the dashboard refuses a viewer's acknowledge");
      const resolve = await post(`${alertPath(alert.dedupKey)}/resolve`, { note: "a viewer tries", false_positive: "yes" });
      assert.equal(resolve.status, 403, "the dashboard refuses a viewer's resolve");
      const token = await post("/settings/tokens", { name: "viewer-made", scope: "admin" });
      assert.equal(token.status, 403, "the dashboard refuses a viewer's new token");
      const issue = await post("/canaries", { kind: "iam-user", owner: "viewer" });
      assert.equal(issue.status, 403, "the dashboard refuses a viewer's canary");

      // The API, with the viewer's token itself.
      const apiRevoke = await server.api("POST", `/api/v1/canaries/${canary.id}/revoke`, { token: viewerToken, body: { reason: "a viewer tries" } });
      assert.equal(apiRevoke.status, 403, `the API refuses a viewer's revoke: ${JSON.stringify(apiRevoke.body)}`);
      assert.equal(apiRevoke.body?.error?.code, "forbidden");
      const apiAck = await server.api("POST", `/api/v1/alerts/${encodeURIComponent(alert.dedupKey)}/acknowledge`, { token: viewerToken, body: { note: "x" } });
      assert.equal(apiAck.status, 403, "the API refuses a viewer's acknowledge");

      // Nothing changed.
      const still = await server.apiOk("GET", `/api/v1/canaries/${canary.id}`);
      assert.equal(still.canary.status, "triggered", "the canary is still live (triggered by its use), not revoked");
      const alertNow = await server.apiOk("GET", `/api/v1/alerts/${encodeURIComponent(alert.dedupKey)}`);
      assert.equal(alertNow.handling.state, "open", "the alert is still open");
      const tokens = await server.apiOk("GET", "/api/v1/tokens");
      assert.ok(!JSON.stringify(tokens).includes("viewer-made"), "no token was made");

      // fetch() of a 403 logs "Failed to load resource" in the console: those are expected.
      assertNoProblems(problems.filter((problem) => !/status of 403/.test(problem)));
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });
});
