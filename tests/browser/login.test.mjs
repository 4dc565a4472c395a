// Logging in to the dashboard through its form: the admin token opens a session cookie, a
// wrong token does not, and logging out ends the session.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { startServer } from "./support/server.mjs";
import { assertNoProblems, assertOwnHost, exists, login, recordedContext, text } from "./support/browser.mjs";

describe("login", { timeout: 120_000 }, () => {
  let server;
  let browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test("the admin token logs in through the form, lands where it was going, and logs out", { timeout: 60_000 }, async () => {
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      const first = await page.goto("/alerts");
      assert.equal(new URL(page.url()).pathname, "/login", "a page without a session sends the browser to /login");
      assert.equal(new URL(page.url()).searchParams.get("next"), "/alerts", "the login page remembers where the browser was going");
      assert.match(first.headers()["content-security-policy"] ?? "", /script-src 'self'/, "the login page carries the strict CSP");
      assert.equal(await page.$eval("#token", (input) => input.type), "password", "the token field hides what is typed");

      await page.fill("#token", server.adminToken);
      await Promise.all([
        page.waitForURL((url) => url.pathname === "/alerts"),
        page.click("main.login button[type=submit]"),
      ]);
      assert.equal(await text(page, "h1"), "Alerts", "after login the browser is on the page it asked for");

      const cookies = await context.cookies(server.origin);
      const session = cookies.find((cookie) => cookie.name === "tripkey_session");
      assert.ok(session, `a tripkey_session cookie is set (cookies: ${JSON.stringify(cookies.map((c) => c.name))})`);
      assert.equal(session.httpOnly, true, "the session cookie is HttpOnly");
      assert.equal(session.sameSite, "Strict", "the session cookie is SameSite=Strict");
      assert.ok(!session.value.includes(server.adminToken), "the cookie is not the token");

      await page.goto("/");
      assert.equal(await text(page, "h1"), "Overview", "the overview opens with the session");
      assert.match(await text(page, "header .who"), /admin/, "the header names the admin scope");
      assert.ok(await exists(page, "#live-canaries"), "the overview shows live canaries");

      await Promise.all([
        page.waitForURL((url) => url.pathname === "/login"),
        page.click("header form[action='/logout'] button[type=submit]"),
      ]);
      await page.goto("/canaries");
      assert.equal(new URL(page.url()).pathname, "/login", "after logging out, pages ask for a login again");
      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });

  test("a wrong token shows an error and sets no cookie", { timeout: 60_000 }, async () => {
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await page.goto("/login");
      await page.fill("#token", "tk_not_a_token_anyone_made_0123456789abcdef");
      const [answer] = await Promise.all([
        page.waitForResponse((response) => response.url().endsWith("/login") && response.request().method() === "POST"),
        page.click("main.login button[type=submit]"),
      ]);
      await page.waitForLoadState();
      assert.equal(answer.status(), 401, "the server answers 401 to a wrong token");
      assert.equal(new URL(page.url()).pathname, "/login", "the browser stays on the login page");
      const error = await text(page, ".notice.error[role=alert]");
      assert.ok(error, "the login page shows an error");
      assert.ok(error.length > 5, `the error says something: ${JSON.stringify(error)}`);
      const cookies = await context.cookies(server.origin);
      assert.deepEqual(cookies.filter((cookie) => cookie.name === "tripkey_session"), [], "no session cookie is set");

      await page.goto("/");
      assert.equal(new URL(page.url()).pathname, "/login", "the overview still asks for a login");

      // An empty token is refused by the browser's own `required` check; the server refuses it too.
      const empty = await page.request.post("/login", { form: { token: "", next: "/" }, maxRedirects: 0 });
      assert.equal(empty.status(), 400, "an empty token is a 400");
      assert.deepEqual((await context.cookies(server.origin)).filter((c) => c.name === "tripkey_session"), [], "still no session cookie");
      assertNoProblems(problems.filter((problem) => !/status of 401/.test(problem)));
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }
  });
});
