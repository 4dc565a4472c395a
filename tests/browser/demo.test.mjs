// `tripkey demo`: serve and the dashboard on a temporary database, five offline canaries, one
// planted, and an attack replayed; within seconds the dashboard shows every kind of alert.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { launchChromium } from "./support/chromium.mjs";
import { spawnLogged, tripkeyBin, waitForHealth } from "./support/server.mjs";
import { assertNoProblems, assertOwnHost, login, recordedContext, text } from "./support/browser.mjs";

const RULES = ["canary-use", "instance-credential-exfiltration", "access-denied-burst"];
/** From the demo's start to all three kinds of alert on the alerts page. */
const ALERTS_WITHIN = 10_000;

/** Waits until `demo` has printed a line matching each of `patterns`: their first groups. */
async function printed(demo, patterns, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = patterns.map((pattern) => demo.output.stdout.match(pattern)?.[1]);
    if (found.every(Boolean)) return found;
    if (!demo.running) throw new Error(`tripkey demo exited before printing its dashboard and token\n${demo.log()}`);
    if (Date.now() > deadline) throw new Error(`tripkey demo printed no dashboard and token within ${timeoutMs} ms\n${demo.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("tripkey demo", { timeout: 120_000 }, () => {
  let browser;
  let home;
  let demo;
  before(async () => {
    browser = await launchChromium();
    // Its own TMPDIR (where the demo makes its folder) and HOME, to see both left clean.
    home = await mkdtemp(path.join(os.tmpdir(), "tripkey-browser-demo-"));
  });
  after(async () => {
    await demo?.stop();
    await browser?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test("the dashboard shows all three kinds of alert within 10 s, and where the canary was planted", { timeout: 90_000 }, async () => {
    const started = Date.now();
    demo = spawnLogged(tripkeyBin(), ["demo", "--listen", "127.0.0.1:0"], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, TMPDIR: home, NO_COLOR: "1", AWS_EC2_METADATA_DISABLED: "true" },
    });
    const [dashboard, token] = await printed(demo, [/^Dashboard: (http:\/\/127\.0\.0\.1:\d+\/)$/m, /^Admin token: (\S+)$/m], ALERTS_WITHIN);
    const origin = new URL(dashboard).origin;
    const server = { origin, host: new URL(dashboard).host };
    await waitForHealth(`${origin}/healthz`, demo, ALERTS_WITHIN);

    const { context, requests, problems } = await recordedContext(browser, server);
    try {
      const page = await context.newPage();
      await login(page, token, { next: "/alerts" });
      assert.equal(await text(page, "h1"), "Alerts", "the demo's admin token logs in");

      let rules = new Set();
      for (;;) {
        rules = new Set(await page.$$eval("table#alert-list tr[data-rule]", (rows) => rows.map((row) => row.dataset.rule)));
        if (RULES.every((rule) => rules.has(rule)) || Date.now() - started > ALERTS_WITHIN) break;
        await page.waitForTimeout(250);
        await page.goto("/alerts");
      }
      const elapsed = Date.now() - started;
      for (const rule of RULES) {
        assert.ok(rules.has(rule), `within ${ALERTS_WITHIN / 1000} s of starting the demo the alerts list shows a ${rule} alert `
          + `(after ${elapsed} ms it shows ${JSON.stringify([...rules])})\n${demo.log()}`);
      }

      // The canary-use alert names where its canary was planted.
      await Promise.all([
        page.waitForURL((url) => url.pathname.startsWith("/alerts/canary-use")),
        page.click('table#alert-list tr[data-rule="canary-use"] a'),
      ]);
      const placements = await page.$$eval("#placements li", (items) => items.map((item) => item.textContent.trim()));
      assert.ok(placements.length > 0, "the canary-use alert lists where the canary was planted");
      assert.ok(placements.some((placement) => /mac-0231 .*\/\.aws\/credentials \(credentials-profile\)/.test(placement)),
        `the placement is the laptop's credentials file: ${JSON.stringify(placements)}`);
      assert.ok((await text(page, "#playbook")).includes("mac-0231"), "the playbook points at the planted host");
      assertNoProblems(problems);
      assertOwnHost(requests, server);
    } finally {
      await context.close();
    }

    // Ctrl-C stops it cleanly and removes its folder.
    const folder = demo.output.stdout.match(/^Credentials file: (\S+)\/laptop\/\.aws\/credentials$/m)?.[1];
    assert.ok(folder, `the demo names its credentials file\n${demo.log()}`);
    assert.ok(existsSync(folder), "the demo's folder exists while it runs");
    const { code, signal } = await demo.stop(10_000);
    assert.equal(signal, null, `the demo exits by itself on SIGINT, not killed\n${demo.log()}`);
    assert.equal(code, 0, `the demo exits 0 on SIGINT\n${demo.log()}`);
    assert.match(demo.output.stdout, /stopped; removed/, "the demo says it removed its folder");
    assert.ok(!existsSync(folder), `the demo removed ${folder}`);
    assert.deepEqual((await readdir(home)).filter((name) => name.startsWith("tripkey-demo-")), [], "no demo folder is left behind");
  });
});
