// Drives Herald's dashboard and consumer portal in headless Chromium
// against a running Herald (started by TestBrowser in browser_test.go):
//
//  1. log in with the admin token;
//  2. create an endpoint that fails and publish a message to it;
//  3. see the failure appear in /ui/failed without reloading the page;
//  4. make the endpoint healthy, click Retry, and see the success;
//  5. open a portal link and confirm only that application is visible.
//
// Environment: HERALD_URL, HERALD_ADMIN_TOKEN, SINK_URL (a receiver that
// fails until POST /control/healthy), CHROMIUM (the browser binary) and
// optionally SCREENSHOTS (a folder to write the key pages to, as PNG).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = need("HERALD_URL");
const token = need("HERALD_ADMIN_TOKEN");
const sink = need("SINK_URL");
const shots = process.env.SCREENSHOTS || "";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function step(what) {
  console.log(`step: ${what}`);
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

const browser = await chromium.launch({
  executablePath: need("CHROMIUM"),
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});

// pages are the open tabs; on failure each one's address and text are
// printed, so the test log shows what the browser saw.
const pages = [];
// problems collects script errors and console errors (a blocked script or
// style shows up here as a Content-Security-Policy violation). Failed
// loads are left out: some steps expect a 404 or a 401.
const problems = [];
function watch(p) {
  pages.push(p);
  p.on("pageerror", (e) => problems.push(`script error on ${p.url()}: ${e.message}`));
  p.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console error on ${p.url()}: ${m.text()}`);
    }
  });
  return p;
}
try {
  const viewport = { width: 1440, height: 900 };
  const ctx = await browser.newContext({ viewport });
  const page = watch(await ctx.newPage());
  page.setDefaultTimeout(20000);

  step("log in");
  await page.goto(`${base}/ui/`);
  check(page.url().endsWith("/ui/login"), `an anonymous visit lands on the login page, got ${page.url()}`);
  await shot(page, "login");
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await page.getByText("That token is not the admin token.").waitFor();
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/ui/`);
  await page.getByRole("heading", { name: "Overview" }).waitFor();

  step("create applications and an endpoint that fails");
  await api("POST", "/api/v1/event-type", {
    name: "invoice.paid",
    description: "An invoice was paid in full.",
    schemas: { 1: { type: "object", required: ["invoice", "amount"], properties: { invoice: { type: "string" }, amount: { type: "integer" }, currency: { type: "string" } } } },
  });
  const acme = await api("POST", "/api/v1/app", { name: "Acme Store", uid: "acme" });
  const globex = await api("POST", "/api/v1/app", { name: "Globex Corp", uid: "globex" });
  const ep = await api("POST", `/api/v1/app/${acme.id}/endpoint`, {
    url: `${sink}/acme/webhooks`, description: "Billing service", filterTypes: ["invoice.paid"],
  });
  const globexEp = await api("POST", `/api/v1/app/${globex.id}/endpoint`, {
    url: `${sink}/globex/webhooks`, description: "Globex CRM",
  });

  step("watch /ui/failed, publish, and see the failure appear without a reload");
  await page.goto(`${base}/ui/failed`);
  await page.getByRole("heading", { name: "Failed deliveries" }).waitFor();
  await page.evaluate(() => { window.heraldNoReload = true; });
  const msg = await api("POST", `/api/v1/app/${acme.id}/msg`, {
    eventType: "invoice.paid", payload: { invoice: "in_1042", amount: 4900, currency: "EUR" },
  });
  const row = page.locator(`tr[data-msg="${msg.id}"]`);
  await row.waitFor();
  check(await page.evaluate(() => window.heraldNoReload === true), "the failed page did not reload");
  const rowText = await row.innerText();
  check(rowText.includes("500") && rowText.includes("Acme Store"), `the row shows the 500 and the application, got: ${rowText}`);
  await shot(page, "failed");

  step("make the endpoint healthy, click Retry, and see the success");
  const healed = await fetch(`${sink}/control/healthy`, { method: "POST" });
  check(healed.ok, "the receiver became healthy");
  await row.getByRole("button", { name: "Retry" }).click();
  await page.waitForURL(/\/ui\/failed\?done=retried$/);
  await page.getByText("Retry scheduled.").waitFor();
  await page.goto(`${base}/ui/apps/${acme.id}/messages/${msg.id}`);
  await page.locator("#destinations .badge.b-success").waitFor();
  await page.locator("#attempts summary", { hasText: "200 OK" }).waitFor();
  await page.locator("#attempts summary", { hasText: "manual" }).first().waitFor();
  await page.locator("#attempts summary").first().click();
  // The open attempt stays open while the list refreshes itself: a marker
  // the server never sends makes the next refresh swap the list in.
  await page.evaluate(() => { document.getElementById("attempts").insertAdjacentHTML("beforeend", '<i id="stale"></i>'); });
  await page.waitForFunction(() => !document.getElementById("stale"));
  check(await page.locator("#attempts details[open]").count() === 1, "the opened attempt stays open across a refresh");
  await shot(page, "message");
  await page.goto(`${base}/ui/failed`);
  check(await page.locator(`tr[data-msg="${msg.id}"]`).count() === 0, "the retried delivery left the failed list");

  if (shots) {
    await page.goto(`${base}/ui/`);
    await shot(page, "overview");
    await page.goto(`${base}/ui/apps`);
    await shot(page, "applications");
    await page.goto(`${base}/ui/apps/${acme.id}/endpoints/${ep.id}`);
    await shot(page, "endpoint");
    await page.goto(`${base}/ui/messages`);
    await shot(page, "messages");
    await page.goto(`${base}/ui/event-types`);
    await shot(page, "event-types");
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const pp = watch(await phone.newPage());
    await pp.goto(`${base}/ui/login`);
    await pp.fill("#token", token);
    await pp.click("button[type=submit]");
    await pp.waitForURL(`${base}/ui/`);
    await shot(pp, "overview-mobile");
    await phone.close();
  }

  step("open a portal link and see only that application");
  const access = await api("POST", `/api/v1/auth/app-portal-access/${acme.id}`, {});
  check(access.url.includes("#key=appsk_"), `the portal URL carries the key in its fragment, got ${access.url}`);
  const portalCtx = await browser.newContext({ viewport });
  const portal = watch(await portalCtx.newPage());
  portal.setDefaultTimeout(20000);
  await portal.goto(new URL(access.url, base).href);
  await portal.waitForURL(`${base}/ui/portal/home`);
  await portal.getByRole("heading", { name: "Acme Store" }).waitFor();
  const body = await portal.locator("body").innerText();
  check(body.includes(ep.url), "the portal lists the application's endpoint");
  check(body.includes(msg.id), "the portal lists the application's message");
  for (const foreign of ["Globex", globex.id, globexEp.id, globexEp.url]) {
    check(!body.includes(foreign), `the portal does not show ${foreign}`);
  }
  await shot(portal, "portal");
  const res = await portal.goto(`${base}/ui/portal/endpoints/${globexEp.id}`);
  check(res.status() === 404, `another application's endpoint is not found in the portal, got ${res.status()}`);
  await portal.goto(`${base}/ui/portal/endpoints/${ep.id}`);
  await portal.getByRole("heading", { name: ep.url }).waitFor();
  await shot(portal, "portal-endpoint");

  step("add an endpoint from the portal");
  await portal.goto(`${base}/ui/portal/home`);
  await portal.getByRole("link", { name: "Add endpoint" }).click();
  await portal.fill("#url", `${sink}/acme/second`);
  await portal.fill("#description", "Audit log");
  await portal.getByLabel("invoice.paid").check();
  await portal.getByRole("button", { name: "Create endpoint" }).click();
  await portal.getByText("Endpoint created.").waitFor();
  await portal.getByRole("heading", { name: `${sink}/acme/second` }).waitFor();
  await portal.getByRole("button", { name: "Show" }).click();
  check(!(await portal.locator("#secret").getAttribute("class")).includes("masked"), "the secret is shown on request");
  check((await portal.locator("#secret").innerText()).startsWith("whsec_"), "the new endpoint has a signing secret");
  const listed = await api("GET", `/api/v1/app/${acme.id}/endpoint`);
  check(listed.data.some((e) => e.url === `${sink}/acme/second` && e.description === "Audit log"), "the API sees the endpoint the portal added");
  await portal.goto(`${base}/ui/failed`);
  check(portal.url().endsWith("/ui/login"), `the portal session does not open the operator dashboard, got ${portal.url()}`);
  await portal.goto(`${base}/ui/portal`);
  await portal.waitForURL(`${base}/ui/portal/home`);

  step("an expired or forged portal link is refused");
  const stranger = watch(await (await browser.newContext()).newPage());
  await stranger.goto(`${base}/ui/portal#key=appsk_forged`);
  await stranger.getByText("This portal link has expired").waitFor();

  check(problems.length === 0, `no script or console errors, got:\n${problems.join("\n")}`);
  console.log("browser flow passed");
} catch (err) {
  for (const p of pages) {
    const text = await p.locator("body").innerText().catch(() => "(unreadable)");
    console.log(`--- page ${p.url()}\n${text.slice(0, 2000)}`);
  }
  throw err;
} finally {
  await browser.close();
}
