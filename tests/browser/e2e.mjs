// The guide's browser client in headless Chromium: connect with a token, receive every message
// type, reconnect with backoff after the gateway kills the socket, and stop after three failed
// attempts with a bad token. Run by tests/browser.rs with the URLs of a running demo.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const GATEWAY = env("WSDASH_GATEWAY_HTTP");
const BACKEND = env("WSDASH_BACKEND");
const ADMIN_TOKEN = env("WSDASH_ADMIN_TOKEN");
const RESULTS = env("WSDASH_RESULTS");
const CHROMIUM = process.env.WSDASH_CHROMIUM || "/usr/bin/chromium";

const step = (text) => console.log(`- ${text}`);

async function records() {
  const response = await fetch(`${BACKEND}/debug/ws-connections`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!response.ok) throw new Error(`debug endpoint answered ${response.status}`);
  return response.json();
}

async function waitFor(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function push(user, payload) {
  const response = await fetch(`${BACKEND}/debug/ws-push-test/${user}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (body.class !== "delivered") throw new Error(`push ${payload.type} was not delivered: ${JSON.stringify(body)}`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  page.on("console", (m) => { if (m.type() === "error") console.log(`  page console: ${m.text()}`); });

  step("open the client page with alice's token");
  await page.goto(`${GATEWAY}/_wsdash/client?token=dev:alice&backoff_ms=700&max_backoff_ms=5000&silence_ms=1500&check_ms=300`);
  await page.waitForSelector("body[data-state=connected]", { timeout: 10000 });
  const first = await waitFor("alice in the backend's records", async () => (await records()).find((r) => r.user_id === "alice"));
  step(`alice is connected as ${first.connection_id}`);

  step("push each of the guide's message types and watch the page");
  await push("alice", { type: "new_content", title: "Release notes 4.2", author: "dana" });
  await page.waitForSelector("#toasts div:has-text('Release notes 4.2 by dana')", { timeout: 5000 });
  await push("alice", { type: "new_comment", thread_id: "thread_77", excerpt: "Looks good" });
  await page.waitForSelector("#thread:has-text('thread thread_77 refreshed: Looks good')", { timeout: 5000 });
  await push("alice", { type: "status_update", entity_id: "order_5521", status: "shipped" });
  await page.waitForSelector("#status-line:has-text('order_5521: shipped')", { timeout: 5000 });
  await push("alice", { type: "alert_triggered", name: "CPU above 90%", severity: "high" });
  await page.waitForSelector("#alerts div:has-text('ALERT CPU above 90% (high)')", { timeout: 5000 });
  await push("alice", { type: "unread_counts", counts: { notifications: 7, messages: 2 } });
  await page.waitForSelector("#badge-notifications:has-text('7')", { timeout: 5000 });
  await push("alice", { type: "heartbeat" });
  await page.waitForFunction(() => Number(document.getElementById("heartbeats").textContent) >= 1, null, { timeout: 5000 });

  step("the silence watchdog pings after a quiet spell");
  await page.waitForFunction(() => Number(document.getElementById("pings").textContent) >= 1, null, { timeout: 10000 });

  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: `${RESULTS}/client.png` });

  step("the gateway kills the socket without a close frame: the page reconnects with backoff");
  const killed = await (await fetch(`${GATEWAY}/_wsdash/kill`, { method: "POST", body: JSON.stringify({ connection_ids: [first.connection_id] }) })).json();
  if (killed.killed.length !== 1) throw new Error(`kill failed: ${JSON.stringify(killed)}`);
  await page.waitForSelector("#retry:has-text('next retry in')", { timeout: 5000 });
  await page.waitForSelector("body[data-state=connected][data-connections='2']", { timeout: 10000 });
  const second = await waitFor("alice's new record", async () => {
    const r = (await records()).find((r) => r.user_id === "alice");
    return r && r.connection_id !== first.connection_id ? r : null;
  });
  step(`reconnected as ${second.connection_id}`);
  await push("alice", { type: "new_content", title: "after the reconnect" });
  await page.waitForSelector("#toasts div:has-text('after the reconnect')", { timeout: 5000 });

  step("a bad token: the page stops after three failed attempts");
  const bad = await browser.newPage();
  await bad.goto(`${GATEWAY}/_wsdash/client?token=not-a-token&backoff_ms=200&max_backoff_ms=400`);
  await bad.waitForSelector("body[data-state=stopped]", { timeout: 10000 });
  const attempts = Number(await bad.textContent("#attempts"));
  if (attempts !== 3) throw new Error(`expected exactly 3 attempts before stopping, saw ${attempts}`);
  await bad.screenshot({ path: `${RESULTS}/client-bad-token.png` });
  console.log("browser e2e passed");
} finally {
  await browser.close();
}
