// Every page of the dashboard: what it loads (only from the server itself) and how it looks,
// light and dark, in screenshots under target/screenshots/.
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { startServer } from "./support/server.mjs";
import { alertPath, assertNoProblems, assertOwnHost, login, recordedContext, screenshot, text } from "./support/browser.mjs";

/** The pages, in the order a person would meet them. */
const PAGES = [
  "login", "overview", "canaries", "canary-new", "canary-reveal", "canary-detail", "canary-revoke",
  "alerts", "alert-detail", "suppressions", "settings",
];

describe("pages", { timeout: 180_000 }, () => {
  let server;
  let browser;
  let planted;
  let alert;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchChromium()]);
    // Something on every page: canaries of several kinds and owners, one planted and used
    // with hostile text, a viewer token, an expiring short-term canary.
    await server.createCanary({ labels: { owner: "it-endpoint", host: "mac-0231", location: "~/.aws/credentials" }, memo: "Priya's laptop" });
    await server.createCanary({ kind: "federation", labels: { owner: "platform", host: "github-actions", location: "payments-api repository secret AWS_ACCESS_KEY_ID" } });
    await server.createToken("soc-viewer", ["viewer"]);
    alert = await server.hostileAlert({ owner: "build-infra", host: "jenkins-02", location: "/var/lib/jenkins/.aws/credentials", team: "payments" });
    planted = alert.canary;
    await server.apiOk("POST", `/api/v1/canaries/${planted.id}/placements`, {
      body: { host: "jenkins-02", path: "/var/lib/jenkins/.aws/credentials", format: "credentials-profile", user: "jenkins" },
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Opens each page in turn and calls `visit(name, page)` on it. */
  async function walk(page, visit) {
    await page.goto("/login");
    await visit("login", page);
    await login(page, server.adminToken);
    await visit("overview", page);
    await page.goto("/canaries");
    await visit("canaries", page);
    await page.goto("/canaries/new");
    await visit("canary-new", page);
    await page.fill("#owner", "sre");
    await page.fill("#host", "backup-01");
    await page.fill("#location", "/etc/restic/aws.env");
    await page.fill("#labels", "team=storage");
    await page.fill("#memo", "in the env file of the nightly backup");
    await Promise.all([page.waitForURL((url) => url.pathname === "/canaries"), page.click("form#create-canary button[type=submit]")]);
    await page.waitForSelector("pre#credentials-credentials-profile");
    await visit("canary-reveal", page);
    await page.goto(`/canaries/${planted.id}`);
    await visit("canary-detail", page);
    await page.goto(`/canaries/${planted.id}/revoke`);
    await visit("canary-revoke", page);
    await page.goto("/alerts");
    await visit("alerts", page);
    await page.goto(alertPath(alert.dedupKey));
    await visit("alert-detail", page);
    await page.click("#suppress-similar");
    await page.waitForURL((url) => url.pathname === "/suppressions");
    await visit("suppressions", page);
    await page.goto("/settings");
    await visit("settings", page);
  }

  test("every request the pages make goes to the server itself", { timeout: 60_000 }, async () => {
    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      const seen = [];
      await walk(page, async (name) => { seen.push(name); });
      assert.deepEqual(seen, PAGES, "every page was visited");
      assertOwnHost(requests, server);
      const paths = new Set(requests.filter((url) => url.startsWith("http")).map((url) => new URL(url).pathname));
      for (const asset of ["/assets/app.css", "/assets/app.js", "/assets/favicon.svg"]) {
        assert.ok(paths.has(asset), `the pages load ${asset} (they loaded ${[...paths].join(", ")})`);
      }
      const assets = [...paths].filter((path) => path.includes("."));
      assert.deepEqual(assets.filter((path) => !path.startsWith("/assets/")), [], "static files come only from /assets/");
      assertNoProblems(problems);
    } finally {
      await context.close();
    }
  });

  for (const colorScheme of ["light", "dark"]) {
    test(`screenshots of every page, ${colorScheme}`, { timeout: 90_000 }, async () => {
      const { context, requests, problems } = await recordedContext(browser, server, { colorScheme });
      try {
        const page = await context.newPage();
        const files = [];
        await walk(page, async (name) => {
          await page.waitForLoadState("load");
          // The stylesheet applied, with this scheme's colours.
          const style = await page.evaluate(() => {
            const body = getComputedStyle(document.body);
            return { background: body.backgroundColor, color: body.color, font: body.fontFamily };
          });
          const wanted = colorScheme === "dark" ? "rgb(15, 18, 23)" : "rgb(246, 247, 249)";
          assert.equal(style.background, wanted, `${name}: the page has the ${colorScheme} background`);
          assert.match(style.font, /system-ui/, `${name}: the stylesheet's font applies`);
          // Nothing wider than the window: no horizontal scrolling at 1280 px.
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the window`);
          files.push(await screenshot(page, `${name}-${colorScheme}`));
        });
        assert.equal(files.length, PAGES.length, "one screenshot per page");
        for (const file of files) {
          assert.ok((await stat(file)).size > 5_000, `${file} holds an image`);
        }
        assert.ok((await text(page, "h1")) === "Settings", "the walk ended on the settings page");
        assertNoProblems(problems);
        assertOwnHost(requests, server);
      } finally {
        await context.close();
      }
    });
  }
});
