// Browser frontend over Connect-Web: drives the page from e2e/web in
// Debian's Chromium through playwright-core, once per transport, and once
// from an origin the bridge does not allow.
//
//   node browser.mjs --page http://127.0.0.1:18084 --blocked-page http://127.0.0.1:18085 \
//        --bridge http://127.0.0.1:18080 --out ../out
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { check, checkEqual, flags, runCases } from "./lib/cases.mjs";

const f = flags();
const pageOrigin = f.page;
const blockedOrigin = f["blocked-page"];
const bridge = f.bridge;
const out = path.resolve(f.out ?? "../out");
mkdirSync(out, { recursive: true });

const STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";
const CONV = "c-3c04346-e522-4c53-9e03-c9566d859aad";

// launch() gives Chromium a new, empty temporary profile of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

/** Opens the page with params; returns the page, bridge requests and console lines. */
async function open(origin, params) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const requests = [];
  const consoleLines = [];
  const pageErrors = [];
  page.on("request", (r) => {
    if (r.url().startsWith(bridge)) requests.push({ method: r.method(), url: r.url(), headers: r.headers() });
  });
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  const q = new URLSearchParams({ base: bridge, ...params });
  await page.goto(`${origin}/?${q}`);
  await page.waitForSelector("body[data-state=loaded], body[data-state=error]", { timeout: 15_000 });
  return { context, page, requests, consoleLines, pageErrors };
}

async function text(page, testid) {
  return (await page.getByTestId(testid).first().innerText()).trim();
}

/** Asserts what a supervisor reads for the documented sample. */
async function checkRendered(page) {
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "loaded") {
    throw new Error(`page shows an error: ${await text(page, "error").catch(() => "?")}`);
  }
  const want = {
    "customer-name": "Unnamed customer",
    "customer-id": "u-aa15c0f4-7f78-5912-8713-f5cd1c3e476e",
    "customer-place": "Raha Gaon, India",
    channel: "Web chat · messaging",
    status: "CLOSED",
    "conversation-id": CONV,
    started: "2023-05-22 04:55:05 UTC",
    ended: "2023-05-22 05:29:14 UTC",
    "handle-time": "34 min 9 s",
    "wait-time": "3.4 s",
    priority: "5",
    "transfer-count": "1",
    "disposition-status": "DROP-OFF",
    "disposition-meta": "System drop-off",
    survey: "Survey required",
    callback: "Callback not requested",
  };
  for (const [id, v] of Object.entries(want)) checkEqual(id, await text(page, id), v);
  check((await text(page, "disposition-remarks")).includes("no agents that can help you"), "disposition remarks");
  const agents = await text(page, "agents");
  check(/John Doe/.test(agents) && /handled 34 min 6 s/.test(agents), `agents card: ${JSON.stringify(agents)}`);
  const queues = await text(page, "queues");
  check((queues.match(/Default Queue/g) ?? []).length === 2, `queues card lists 2 stays: ${JSON.stringify(queues)}`);
  const items = await page.locator("ol.timeline > li").evaluateAll((lis) =>
    lis.map((li) => [li.dataset.kind, li.querySelector(".ev-time .mono").textContent, li.querySelector(".ev-title").textContent]),
  );
  checkEqual("timeline", items, [
    ["queue", "04:55:05", "Queued in Default Queue"],
    ["system", "04:55:05", "Conversation started on Web chat"],
    ["agent", "04:55:05", "Offered to John Doe"],
    ["agent", "04:55:07", "John Doe joined"],
    ["transfer", "05:29:14", "Transferred to Default Queue"],
    ["queue", "05:29:14", "Re-queued in Default Queue"],
    ["agent", "05:29:14", "John Doe left"],
    ["system", "05:29:14", "Conversation ended"],
  ]);
  const transfer = await page.locator("li.ev.transfer .ev-detail").innerText();
  checkEqual("transfer detail", transfer, "by John Doe · Queue transfer · priority HIGHEST");
}

async function checked(origin, params, fn) {
  const s = await open(origin, params);
  try {
    await fn(s);
    check(s.pageErrors.length === 0, `page errors: ${s.pageErrors.join("; ")}`);
  } finally {
    await s.context.close();
  }
}

const cases = [
  {
    name: "browser: Connect transport (JSON POST) renders the conversation",
    fn: () =>
      checked(pageOrigin, { transport: "connect" }, async ({ page, requests }) => {
        await checkRendered(page);
        const call = requests.find((r) => r.url.endsWith("/smartassist.v1.ConversationService/GetConversation"));
        check(call, `no Connect call seen: ${JSON.stringify(requests.map((r) => r.method + " " + r.url))}`);
        checkEqual("method", call.method, "POST");
        checkEqual("content-type", call.headers["content-type"], "application/json");
        checkEqual("footer transport", await text(page, "transport-label"), "Connect (JSON, POST)");
        await page.screenshot({ path: path.join(out, "supervisor-connect.png"), fullPage: true });
      }),
  },
  {
    name: "browser: Connect transport (binary GET) renders the conversation",
    fn: () =>
      checked(pageOrigin, { transport: "connect", format: "binary", get: "1" }, async ({ page, requests }) => {
        await checkRendered(page);
        const call = requests.find((r) => r.url.includes("/smartassist.v1.ConversationService/GetConversation?"));
        check(call, `no Connect GET seen: ${JSON.stringify(requests.map((r) => r.method + " " + r.url))}`);
        checkEqual("method", call.method, "GET");
        const q = new URL(call.url).searchParams;
        checkEqual("encoding", q.get("encoding"), "proto");
        checkEqual("connect", q.get("connect"), "v1");
      }),
  },
  {
    name: "browser: gRPC-Web transport renders the conversation",
    fn: () =>
      checked(pageOrigin, { transport: "grpcweb" }, async ({ page, requests }) => {
        await checkRendered(page);
        const call = requests.find((r) => r.url.endsWith("/smartassist.v1.ConversationService/GetConversation"));
        check(call, "no gRPC-Web call seen");
        checkEqual("content-type", call.headers["content-type"], "application/grpc-web+proto");
        checkEqual("footer transport", await text(page, "transport-label"), "gRPC-Web (binary)");
        await page.screenshot({ path: path.join(out, "supervisor-grpcweb.png"), fullPage: true });
      }),
  },
  {
    name: "browser: unknown conversation shows 'Conversation not found' (gRPC-Web)",
    fn: () =>
      checked(pageOrigin, { transport: "grpcweb", conversation: "c-does-not-exist" }, async ({ page }) => {
        const err = page.getByTestId("error");
        checkEqual("error code", await err.getAttribute("data-code"), "NotFound");
        check((await err.innerText()).includes("Conversation not found"), "headline");
      }),
  },
  {
    name: "browser: invalid id shows INVALID_ARGUMENT (Connect)",
    fn: () =>
      checked(pageOrigin, { transport: "connect", conversation: "c-3c04346 e522" }, async ({ page }) => {
        checkEqual("error code", await page.getByTestId("error").getAttribute("data-code"), "InvalidArgument");
      }),
  },
  ...["connect", "grpcweb"].map((transport) => ({
    name: `browser: origin not in --cors-origins is blocked (${transport})`,
    fn: () =>
      checked(blockedOrigin, { transport }, async ({ page, consoleLines, requests }) => {
        const state = await page.evaluate(() => document.body.dataset.state);
        checkEqual("page state", state, "error");
        check((await page.getByTestId("conversation").count()) === 0, "conversation rendered despite CORS");
        const err = page.getByTestId("error");
        checkEqual("error code", await err.getAttribute("data-code"), "Unknown");
        check((await err.innerText()).includes("could not be reached"), "error headline");
        check(requests.length > 0, "the page never tried the bridge");
        const cors = consoleLines.find((l) => /CORS policy/.test(l));
        check(cors, `no CORS message in the console: ${JSON.stringify(consoleLines)}`);
        if (transport === "connect") await page.screenshot({ path: path.join(out, "blocked-origin.png"), fullPage: true });
      }),
  })),
];

try {
  await runCases(cases);
} finally {
  await browser.close();
}
