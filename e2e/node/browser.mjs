// Browser frontend over Connect-Web: drives the console from e2e/web in
// Debian's Chromium through playwright-core, over the Connect and the
// gRPC-Web transport, and once from an origin the bridge does not allow:
// the list (ListConversations: rows, a status filter, next and previous
// page), the live view of the demo's live conversation (WatchConversation:
// at least two changes arrive), and the one-shot review (GetConversation).
//
//   node browser.mjs --page http://127.0.0.1:18084 --blocked-page http://127.0.0.1:18085 \
//        --bridge http://127.0.0.1:18080 --out ../out
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { check, checkEqual, flags, runCases, steps } from "./lib/cases.mjs";

const f = flags();
const pageOrigin = f.page;
const blockedOrigin = f["blocked-page"];
const bridge = f.bridge;
const out = path.resolve(f.out ?? "../out");
mkdirSync(out, { recursive: true });

const STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";
const CONV = "c-3c04346-e522-4c53-9e03-c9566d859aad";
const LIVE = "c-live-demo";
const SERVICE = "/smartassist.v1.ConversationService/";

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
    if (r.url().startsWith(bridge)) requests.push({ method: r.method(), url: r.url(), headers: r.headers(), body: r.postData() });
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

// ---------------------------------------------------------------- the console

/** The rows of the list as [id, status]. */
async function rows(page) {
  return page.locator("[data-testid=conversation-row]").evaluateAll((trs) => trs.map((tr) => [tr.dataset.id, tr.dataset.status]));
}

const ids = (rs) => rs.map(([id]) => id);

/** The error card's text, or "" when there is none (without waiting for one). */
async function errorText(page) {
  const card = page.getByTestId("error");
  return (await card.count()) ? (await card.first().innerText()).replace(/\s+/g, " ") : "";
}

/** Waits for the list to show what sel names (a selector on [data-testid=list]), loaded. */
async function listShown(page, sel = "") {
  await page.waitForSelector(`body[data-state=loaded][data-view=list] [data-testid=list]${sel}`, { timeout: 15_000 }).catch(async (err) => {
    const error = await errorText(page);
    throw new Error(error ? `the list shows an error: ${error.replace(/\s+/g, " ")}` : err.message);
  });
}

/** The page's live counters: [state, updates, messages]. */
async function liveStatus(page) {
  return page.evaluate(() => {
    const s = document.querySelector("[data-testid=live-state]");
    const c = document.querySelector("[data-testid=live-updates]");
    return [s?.dataset.state ?? "", Number(c?.dataset.count ?? 0), Number(c?.dataset.messages ?? 0)];
  });
}

const LABEL = { connect: "Connect", grpcweb: "gRPC-Web" };
const CONTENT_TYPE = {
  connect: { unary: "application/json", stream: "application/connect+json" },
  grpcweb: { unary: "application/grpc-web+proto", stream: "application/grpc-web+proto" },
};

/**
 * The console, as a supervisor uses it, over one transport: the list, the
 * live conversation opened from it (first, to meet it before its closed
 * window), back to the list, a status filter, the next page and back.
 * Runs in the background (see steps); each step is one case.
 */
function consoleFlow(transport) {
  const label = LABEL[transport];
  const names = ["list", "live", "filter", "paging"];
  const s = steps(names, async (step) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const requests = [];
    const pageErrors = [];
    page.on("request", (r) => {
      if (r.url().startsWith(bridge)) requests.push({ method: r.method(), url: r.url(), headers: r.headers(), body: r.postData() });
    });
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    const calls = (method) => requests.filter((r) => r.url.endsWith(SERVICE + method));
    try {
      let first;
      await step("list", async () => {
        await page.goto(`${pageOrigin}/?${new URLSearchParams({ base: bridge, transport })}`);
        await listShown(page, "[data-page='1']");
        first = await rows(page);
        check(first.length >= 10, `the list shows ${first.length} rows, want 10 or more`);
        checkEqual("data-total", await page.getByTestId("list").getAttribute("data-total"), "30");
        check(first.some(([id]) => id === LIVE), `${LIVE} is not on the first page: ${first.map(([id]) => id).join(" ")}`);
        const call = calls("ListConversations")[0];
        check(call, `no ListConversations call seen: ${requests.map((r) => r.url).join(" ")}`);
        checkEqual("content-type", call.headers["content-type"], CONTENT_TYPE[transport].unary);
        if (transport === "connect") {
          const body = JSON.parse(call.body);
          checkEqual("pageSize", body.pageSize, 10);
          check(/(^|,)status(,|$)/.test(body.readMask ?? ""), `readMask not sent: ${call.body}`);
          await page.screenshot({ path: path.join(out, "console-list.png"), fullPage: true });
        }
      });
      await step("live", async () => {
        // The live conversation changes every 5 s, is CLOSED from 60 s to
        // 90 s of every 90 s cycle, then starts again; when it is found
        // closed, wait for the next cycle.
        await page.locator(`[data-testid=conversation-row][data-id="${LIVE}"]`).click();
        const deadline = Date.now() + 75_000;
        let state;
        let updates;
        let messages;
        for (;;) {
          await page.waitForSelector("body[data-view=detail][data-state=loaded], body[data-view=detail][data-state=error]", { timeout: 15_000 });
          const error = await errorText(page);
          check(!error, `the live view shows an error: ${error.replace(/\s+/g, " ")}`);
          // Polled from here: a page's own timers may be throttled while
          // other pages of this browser are in front.
          const until = Math.min(deadline, Date.now() + 30_000);
          for (;;) {
            [state, updates, messages] = await liveStatus(page);
            if (updates >= 2 || !["LIVE", "CONNECTING", "RECONNECTING"].includes(state) || Date.now() > until) break;
            await new Promise((r) => setTimeout(r, 250));
          }
          console.error(`${transport} live: state ${state}, ${updates} updates, ${messages} messages`);
          if (updates >= 2 || state !== "CLOSED" || Date.now() > deadline) break;
          // Closed before two changes: the demo's closed window.
          await page.waitForTimeout(3000);
          await page.reload();
        }
        check(updates >= 2, `${updates} updates after ${messages} messages, state ${state}: ${await page.getByTestId("live-note").innerText().catch(() => "")}`);
        check(state === "LIVE" || state === "CLOSED", `live state ${state}`);
        const updated = await page.getByTestId("live-updated").innerText();
        check(/^updated \d\d:\d\d:\d\d UTC$/.test(updated), `indicator: ${JSON.stringify(updated)}`);
        checkEqual("conversation shown", await text(page, "conversation-id"), LIVE);
        const watch = calls("WatchConversation");
        check(watch.length > 0, "no WatchConversation call seen");
        checkEqual("watch content-type", watch[0].headers["content-type"], CONTENT_TYPE[transport].stream);
        check((await page.getByTestId("update-log").locator("li").count()) >= 3, "update log lists fewer than 3 states");
        await page.screenshot({ path: path.join(out, `console-live-${transport}.png`), fullPage: true });
        // Back to the list, which stops the stream.
        await page.getByTestId("back").click();
        await listShown(page, "[data-page='1']");
        check(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")}`);
      });
      await step("filter", async () => {
        await page.getByTestId("filter-status-CLOSED").check();
        await listShown(page, "[data-statuses=CLOSED]");
        const closed = await rows(page);
        const total = Number(await page.getByTestId("list").getAttribute("data-total"));
        check(closed.length > 0, "no CLOSED row");
        check(closed.every(([, st]) => st === "CLOSED"), `rows other than CLOSED: ${JSON.stringify(closed)}`);
        check(total > 0 && total < 30, `CLOSED matches ${total} of 30`);
        const call = calls("ListConversations").at(-1);
        if (transport === "connect") checkEqual("statuses sent", JSON.parse(call.body).statuses, ["CLOSED"]);
        // A second status widens it again: the filter is a multi-select.
        await page.getByTestId("filter-status-OPEN").check();
        await listShown(page, "[data-statuses='CLOSED,OPEN']");
        const two = await rows(page);
        check(two.some(([, st]) => st === "OPEN") && two.every(([, st]) => st === "CLOSED" || st === "OPEN"),
          `CLOSED+OPEN rows: ${JSON.stringify(two)}`);
        await page.getByTestId("filter-clear").click();
        await listShown(page, "[data-statuses=''][data-page='1']");
        // The live conversation's status moves on; its place does not.
        checkEqual("rows after clearing", ids(await rows(page)), ids(first));
      });
      await step("paging", async () => {
        await page.getByTestId("page-next").click();
        await listShown(page, "[data-page='2']");
        const second = await rows(page);
        check(second.length > 0, "page 2 is empty");
        const onFirst = new Set(ids(first));
        check(second.every(([id]) => !onFirst.has(id)), "page 2 repeats rows of page 1");
        const call = calls("ListConversations").at(-1);
        if (transport === "connect") check(JSON.parse(call.body).pageToken, `page 2 asked without a page token: ${call.body}`);
        checkEqual("page number", await page.getByTestId("page-number").innerText(), "Page 2 of 3");
        await page.getByTestId("page-next").click();
        await listShown(page, "[data-page='3']");
        checkEqual("page 3 has no next page", await page.getByTestId("list").getAttribute("data-next"), "0");
        check(await page.getByTestId("page-next").isDisabled(), "Next is enabled on the last page");
        await page.getByTestId("page-prev").click();
        await listShown(page, "[data-page='2']");
        checkEqual("page 2 again", ids(await rows(page)), ids(second));
        await page.getByTestId("page-prev").click();
        await listShown(page, "[data-page='1']");
        checkEqual("page 1 again", ids(await rows(page)), ids(first));
      });
    } finally {
      await context.close();
    }
  });
  return [
    { name: `browser console (${label}): the list shows a page of 10 of 30 conversations`, fn: s.list },
    { name: `browser console (${label}): ${LIVE} shows 2+ live updates over WatchConversation`, fn: s.live, timeoutMs: 120_000 },
    { name: `browser console (${label}): status filter CLOSED narrows the list, OPEN widens it, clear restores it`, fn: s.filter },
    { name: `browser console (${label}): next page, last page, previous page via page tokens`, fn: s.paging },
  ];
}

// Both flows start now and run beside the cases below.
const consoleCases = [...consoleFlow("connect"), ...consoleFlow("grpcweb")];

const cases = [
  {
    name: "browser: Connect transport (JSON POST) renders the conversation",
    fn: () =>
      checked(pageOrigin, { transport: "connect", conversation: CONV, live: "0" }, async ({ page, requests }) => {
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
      checked(pageOrigin, { transport: "connect", format: "binary", get: "1", conversation: CONV, live: "0" }, async ({ page, requests }) => {
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
      checked(pageOrigin, { transport: "grpcweb", conversation: CONV, live: "0" }, async ({ page, requests }) => {
        await checkRendered(page);
        const call = requests.find((r) => r.url.endsWith("/smartassist.v1.ConversationService/GetConversation"));
        check(call, "no gRPC-Web call seen");
        checkEqual("content-type", call.headers["content-type"], "application/grpc-web+proto");
        checkEqual("footer transport", await text(page, "transport-label"), "gRPC-Web (binary)");
        await page.screenshot({ path: path.join(out, "supervisor-grpcweb.png"), fullPage: true });
      }),
  },
  {
    name: "browser: unknown conversation shows 'Conversation not found' (gRPC-Web, WatchConversation)",
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
      checked(pageOrigin, { transport: "connect", conversation: "c-3c04346 e522", live: "0" }, async ({ page }) => {
        checkEqual("error code", await page.getByTestId("error").getAttribute("data-code"), "InvalidArgument");
      }),
  },
  {
    name: "browser console (gRPC-Web): the closed sample arrives once over WatchConversation and shows CLOSED",
    fn: () =>
      checked(pageOrigin, { transport: "grpcweb", conversation: CONV }, async ({ page, requests }) => {
        await checkRendered(page);
        await page.waitForFunction(() => document.querySelector("[data-testid=live-state]")?.dataset.state !== "LIVE", null, { timeout: 10_000 });
        checkEqual("[state, updates, messages]", await liveStatus(page), ["CLOSED", 0, 1]);
        check(requests.some((r) => r.url.endsWith(SERVICE + "WatchConversation")), "no WatchConversation call seen");
      }),
  },
  ...["connect", "grpcweb"].map((transport) => ({
    name: `browser: origin not in --cors-origins is blocked (${transport}, the list)`,
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

// The console flows ran beside the cases above; their outcomes come last.
cases.push(...consoleCases);

try {
  await runCases(cases);
} finally {
  await browser.close();
}
