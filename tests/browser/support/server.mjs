// A throwaway `tripkey serve` for one test file, and the API calls the tests set up data with.
//
//   import { startServer } from "./support/server.mjs";
//   let server;
//   before(async () => { server = await startServer(); });
//   after(async () => { await server?.stop(); });
//
// The server runs the offline issuer on a temporary SQLite database (HOME and the config in a
// temporary folder, removed on stop), with a watched `dir` source and a JSON-lines sink so the
// dashboard has something to show for both. TRIPKEY_BIN names the binary; the default is the
// debug build scripts/test makes sure exists.
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const ACCOUNT = "111122223333";

export function tripkeyBin() {
  return process.env.TRIPKEY_BIN || path.join(ROOT, "target", "debug", "tripkey");
}

/** A port free on 127.0.0.1 a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

export function randomToken(prefix = "tk_browser_") {
  return prefix + randomBytes(24).toString("base64url");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Spawns `command args`, keeping its output (for failure messages), and returns a handle whose
 * `stop()` sends SIGINT, then SIGKILL after `graceMs`.
 */
export function spawnLogged(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  const output = { stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk) => { output.stdout += chunk; });
  child.stderr.setEncoding("utf8").on("data", (chunk) => { output.stderr += chunk; });
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
    child.on("error", (error) => resolve({ code: null, signal: null, error }));
  });
  let done = false;
  exited.then(() => { done = true; });
  return {
    child,
    output,
    exited,
    get running() { return !done; },
    log() {
      return `--- stdout ---\n${output.stdout.slice(-4000)}\n--- stderr ---\n${output.stderr.slice(-4000)}`;
    },
    async stop(graceMs = 5000) {
      if (done) return exited;
      child.kill("SIGINT");
      const timer = setTimeout(() => { if (!done) child.kill("SIGKILL"); }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Waits until GET `url` answers 200, failing early when `child` (from spawnLogged) has exited. */
export async function waitForHealth(url, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (!child.running) {
      throw new Error(`the server exited before ${url} answered\n${child.log()}`);
    }
    try {
      const answer = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (answer.ok) return;
      last = `status ${answer.status}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})\n${child.log()}`);
}

const CONFIG = `[canary]
offline_account = "${ACCOUNT}"
[store]
path = "tripkey.db"
[serve]
auth_failure_limit = 0
[[source]]
name = "trail"
type = "dir"
path = "trail"
poll = "1s"
[[sink]]
name = "archive"
type = "json-lines"
path = "alerts.jsonl"
`;

/** Starts `tripkey serve` on a free loopback port with a fresh admin token. */
export async function startServer() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tripkey-browser-"));
  await mkdir(path.join(dir, "trail"));
  await writeFile(path.join(dir, "tripkey.toml"), CONFIG);
  const adminToken = randomToken();
  let lastError;
  // The port is free when picked but could be taken before serve binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort();
    const serve = spawnLogged(
      tripkeyBin(),
      ["serve", "--config", path.join(dir, "tripkey.toml"), "--listen", `127.0.0.1:${port}`],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          TRIPKEY_ADMIN_TOKEN: adminToken,
          AWS_EC2_METADATA_DISABLED: "true",
          NO_COLOR: "1",
        },
      },
    );
    const origin = `http://127.0.0.1:${port}`;
    try {
      await waitForHealth(`${origin}/healthz`, serve);
      return new Server({ dir, port, origin, adminToken, serve });
    } catch (error) {
      lastError = error;
      await serve.stop();
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

export class Server {
  constructor({ dir, port, origin, adminToken, serve }) {
    this.dir = dir;
    this.port = port;
    this.origin = origin;
    this.host = `127.0.0.1:${port}`;
    this.adminToken = adminToken;
    this.serve = serve;
    this.ingestToken = null;
  }

  url(pathname) {
    return new URL(pathname, this.origin).href;
  }

  async stop() {
    await this.serve.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** One API call: `{status, body}` (the body parsed when it is JSON). */
  async api(method, pathname, { token = this.adminToken, body, headers = {} } = {}) {
    const answer = await fetch(this.url(pathname), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await answer.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: answer.status, body: parsed };
  }

  /** Like `api`, but fails unless the status is `expected`. */
  async apiOk(method, pathname, options = {}, expected = [200, 201]) {
    const answer = await this.api(method, pathname, options);
    const wanted = [].concat(expected);
    if (!wanted.includes(answer.status)) {
      throw new Error(`${method} ${pathname}: status ${answer.status}, wanted ${wanted.join(" or ")}: ${JSON.stringify(answer.body)}`);
    }
    return answer.body;
  }

  /** Makes an API token: its secret. */
  async createToken(name, scopes) {
    const made = await this.apiOk("POST", "/api/v1/tokens", { body: { name, scopes } });
    return made.token;
  }

  /** Issues a canary through the API: `{canary, credentials}`. */
  async createCanary(request = {}) {
    return this.apiOk("POST", "/api/v1/canaries", { body: request });
  }

  /**
   * POSTs CloudTrail records to /ingest (with an ingest token made on first use) and returns
   * the answer (`records`, `new_alerts`, `problems`).
   */
  async ingest(records) {
    if (!this.ingestToken) {
      this.ingestToken = await this.createToken(`forwarder-${randomBytes(4).toString("hex")}`, ["ingest"]);
    }
    return this.apiOk("POST", "/ingest", { token: this.ingestToken, body: { Records: records } }, 200);
  }

  /**
   * A canary used with hostile text in the fields an attacker controls: its user agent and ARN
   * are markup. Returns the canary, the alert's dedup key and the exact texts sent.
   */
  async hostileAlert(labels = { owner: "mallory-test" }) {
    const { canary } = await this.createCanary({ labels, memo: "used with a hostile user agent" });
    const userAgent = "<img src=x onerror=alert(1)>";
    const arn = `arn:aws:iam::${ACCOUNT}:user/"><script>alert(2)</script>`;
    const record = cloudTrailRecord({ accessKeyId: canary.access_key_id, userAgent, arn });
    const answer = await this.ingest([record]);
    const dedupKey = await this.alertKeyFor(answer, canary.name);
    return { canary, dedupKey, userAgent, arn, eventId: record.eventID };
  }

  /** The dedup key of the canary-use alert on `canaryName` that an ingest answer raised. */
  async alertKeyFor(answer, canaryName) {
    const keys = (answer.new_alerts || []).map((entry) => (typeof entry === "string" ? entry : entry.dedup_key));
    const mine = keys.find((key) => key && key.includes(canaryName));
    if (mine) return mine;
    const listed = await this.apiOk("GET", `/api/v1/alerts?canary=${encodeURIComponent(canaryName)}`);
    const alert = listed.alerts.find((a) => a.rule === "canary-use");
    if (!alert) {
      throw new Error(`no canary-use alert for ${canaryName}; ingest answered ${JSON.stringify(answer)}`);
    }
    return alert.dedup_key;
  }
}

/** A complete CloudTrail record of a GetCallerIdentity call with `accessKeyId`. */
export function cloudTrailRecord({ accessKeyId, userAgent = "aws-cli/2.15.0", arn, sourceIp = "203.0.113.7", eventTime = new Date() }) {
  const principalArn = arn ?? `arn:aws:iam::${ACCOUNT}:user/unknown`;
  return {
    eventVersion: "1.08",
    userIdentity: {
      type: "IAMUser",
      principalId: "AIDA" + randomBytes(8).toString("hex").toUpperCase().slice(0, 17),
      arn: principalArn,
      accountId: ACCOUNT,
      accessKeyId,
      userName: principalArn.split("/").pop(),
    },
    eventTime: new Date(Math.floor(eventTime.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z"),
    eventSource: "sts.amazonaws.com",
    eventName: "GetCallerIdentity",
    awsRegion: "us-east-1",
    sourceIPAddress: sourceIp,
    userAgent,
    requestParameters: null,
    responseElements: null,
    requestID: randomUUID(),
    eventID: randomUUID(),
    readOnly: true,
    eventType: "AwsApiCall",
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: "Management",
  };
}
