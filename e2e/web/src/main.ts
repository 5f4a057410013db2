// A supervisor's view of one SmartAssist conversation, fetched from
// smartassist-bridge with Connect-Web. The page is deliberately served from
// another origin than the bridge, so every call crosses CORS like a real
// frontend's would.
//
// Query string:
//   base=http://127.0.0.1:18080   the bridge's URL (default: same host, port 18080)
//   transport=connect|grpcweb     the Connect-Web transport (default connect)
//   format=json|binary            the Connect transport's codec (default json)
//   get=1                         Connect GET for this side-effect-free method
//   stream=st-…&conversation=c-…  the conversation (default: the documented sample)
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Conversation } from "./gen/smartassist/v1/conversation_pb";
import { ConversationService } from "./gen/smartassist/v1/conversation_service_pb";

const SAMPLE_STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";
const SAMPLE_CONVERSATION = "c-3c04346-e522-4c53-9e03-c9566d859aad";

interface Options {
  base: string;
  transport: "connect" | "grpcweb";
  format: "json" | "binary";
  get: boolean;
  stream: string;
  conversation: string;
}

function readOptions(): Options {
  const q = new URLSearchParams(location.search);
  return {
    base: q.get("base") ?? `${location.protocol}//${location.hostname}:18080`,
    transport: q.get("transport") === "grpcweb" ? "grpcweb" : "connect",
    format: q.get("format") === "binary" ? "binary" : "json",
    get: q.get("get") === "1",
    stream: q.get("stream") ?? SAMPLE_STREAM,
    conversation: q.get("conversation") ?? SAMPLE_CONVERSATION,
  };
}

function makeTransport(o: Options): Transport {
  if (o.transport === "grpcweb") {
    return createGrpcWebTransport({ baseUrl: o.base });
  }
  return createConnectTransport({
    baseUrl: o.base,
    useBinaryFormat: o.format === "binary",
    useHttpGet: o.get,
  });
}

function transportLabel(o: Options): string {
  if (o.transport === "grpcweb") return "gRPC-Web (binary)";
  return `Connect (${o.format === "binary" ? "binary" : "JSON"}, ${o.get ? "GET" : "POST"})`;
}

// ---------------------------------------------------------------- formatting

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** A Timestamp as milliseconds since the epoch, or undefined when unset. */
function ms(ts: Timestamp | undefined): number | undefined {
  return ts ? timestampMs(ts) : undefined;
}

/** "2023-05-22 04:55:05 UTC": supervisors compare across sites, so UTC. */
function dateTime(t: number | undefined): string {
  if (t === undefined) return "—";
  const d = new Date(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${clock(t)} UTC`;
}

function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

function durationMs(d: Duration | undefined): number | undefined {
  return d ? Number(d.seconds) * 1000 + d.nanos / 1e6 : undefined;
}

/** "3.4 s", "34 min 9 s", "2 h 5 min": as precise as a person needs. */
function human(msValue: number | undefined): string {
  if (msValue === undefined || Number.isNaN(msValue)) return "—";
  if (msValue < 1000) return `${Math.round(msValue)} ms`;
  if (msValue < 60_000) return `${(msValue / 1000).toFixed(1)} s`;
  const s = Math.round(msValue / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** "+34:08" from the start of the conversation. */
function offset(t: number, start: number | undefined): string {
  if (start === undefined) return "";
  const s = Math.max(0, Math.round((t - start) / 1000));
  return `+${Math.floor(s / 60)}:${pad(s % 60)}`;
}

/** "SYSTEM_DROP_OFF" -> "System drop-off". */
function words(v: string): string {
  if (!v) return "—";
  const w = v.toLowerCase().replace(/_/g, " ").replace(/ off\b/g, "-off");
  return w.charAt(0).toUpperCase() + w.slice(1);
}

const CHANNELS: Record<string, string> = {
  rtm: "Web chat",
  voice: "Voice",
  email: "Email",
  msteams: "Microsoft Teams",
};

// ---------------------------------------------------------------- DOM

type Child = Node | string | null | undefined | false;

function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

function pill(text: string, tone: string, testid?: string): HTMLElement {
  const a: Record<string, string> = { class: `pill ${tone}` };
  if (testid) a["data-testid"] = testid;
  return h("span", a, text);
}

function statusTone(status: string): string {
  switch (status.toUpperCase()) {
    case "ACTIVE":
    case "OPEN":
      return "good";
    case "WAITING":
    case "ON_HOLD":
      return "warn";
    case "ABANDONED":
      return "bad";
    default:
      return "muted";
  }
}

function dispositionTone(status: string): string {
  const s = status.toUpperCase();
  if (s === "RESOLVED") return "good";
  if (s.includes("DROP") || s === "UNRESOLVED") return "bad";
  return "muted";
}

function stat(label: string, value: string, testid: string, note?: string): HTMLElement {
  return h(
    "div",
    { class: "stat" },
    h("div", { class: "stat-label" }, label),
    h("div", { class: "stat-value", "data-testid": testid }, value),
    note ? h("div", { class: "stat-note" }, note) : null,
  );
}

function card(title: string, testid: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card", "data-testid": testid }, h("h2", {}, title), ...children);
}

// ---------------------------------------------------------------- timeline

interface Event {
  at: number;
  order: number; // ties: the order things happen in a contact center
  kind: "system" | "queue" | "agent" | "transfer";
  title: string;
  detail?: string;
}

/** What a queue stay's status means, given the conversation's. */
function queueStay(stay: string, conversation: string): string {
  if (stay !== "ACTIVE") return "left the queue";
  return conversation === "CLOSED" ? "still marked active at close" : "waiting here now";
}

function timeline(c: Conversation, agentName: (id: string) => string): Event[] {
  const ev: Event[] = [];
  const push = (t: number | undefined, e: Omit<Event, "at">) => t !== undefined && ev.push({ at: t, ...e });
  const channel = CHANNELS[c.source] ?? c.source;
  push(ms(c.startTime), {
    order: 1,
    kind: "system",
    title: `Conversation started${channel ? ` on ${channel}` : ""}`,
    detail: c.keyIntentName ? `Intent ${c.keyIntentName}: “${c.keyIntentUserInput}”` : undefined,
  });
  for (const q of c.queues) {
    push(ms(q.startTime), {
      order: q.type === "TRANSFERRED" ? 4 : 0,
      kind: "queue",
      title: `${q.type === "TRANSFERRED" ? "Re-queued in" : "Queued in"} ${q.name || q.id}`,
      detail: [words(q.type), queueStay(q.status, c.status),
        q.isPreferredAgentTimeoutExpired ? "preferred-agent wait timed out" : ""]
        .filter(Boolean)
        .join(" · "),
    });
  }
  for (const p of c.participants) {
    const who = p.name || p.agentId;
    push(ms(p.assignedAt), { order: 2, kind: "agent", title: `Offered to ${who}`, detail: p.queueName ? `from ${p.queueName}` : undefined });
    push(ms(p.startTimeStamp), { order: 2, kind: "agent", title: `${who} joined` });
    const how = [p.isTransferred ? "transferred it on" : "", p.onInterrupt ? "interrupted" : "", p.endedChat ? "ended the chat" : "", p.reason]
      .filter(Boolean)
      .join(" · ");
    push(ms(p.endTimeStamp), { order: 5, kind: "agent", title: `${who} left`, detail: how || undefined });
  }
  for (const t of c.transferDetails) {
    const to = t.transferredTo.map((x) => x.name || x.id).join(", ") || "—";
    push(ms(t.transferredAt), {
      order: 3,
      kind: "transfer",
      title: `Transferred to ${to}`,
      detail: [
        `by ${agentName(t.transferredBy)}${t.isManager ? " (supervisor)" : ""}`,
        `${words(t.transferredType)} transfer`,
        t.priority ? `priority ${t.priority}` : "",
      ]
        .filter(Boolean)
        .join(" · "),
    });
  }
  push(ms(c.endTime), {
    order: 9,
    kind: "system",
    title: "Conversation ended",
    detail: c.dispositions?.status ? `Disposition ${c.dispositions.status}` : undefined,
  });
  return ev.sort((a, b) => a.at - b.at || a.order - b.order);
}

// ---------------------------------------------------------------- render

function render(c: Conversation, o: Options, tookMs: number): HTMLElement {
  const u = c.userInfo;
  const agents = new Map(c.participants.map((p) => [p.agentId, p.name]));
  const agentName = (id: string) => agents.get(id) || id || "system";
  const start = ms(c.startTime);
  const end = ms(c.endTime);
  const fullName = [u?.firstName, u?.lastName].filter(Boolean).join(" ");
  const initials = fullName ? fullName.split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase() : "?";
  const place = [u?.city, u?.country].filter(Boolean).join(", ");
  const channel = CHANNELS[c.source] ?? c.source;

  const header = h(
    "section",
    { class: "hero card" },
    h("div", { class: "avatar", style: `background:${u?.profColour || "#64748b"}`, "aria-hidden": "true" }, initials),
    h(
      "div",
      { class: "who" },
      h("div", { class: "eyebrow" }, "Customer"),
      h("h1", { "data-testid": "customer-name" }, fullName || "Unnamed customer"),
      h("div", { class: "mono", "data-testid": "customer-id" }, c.userId),
      h(
        "div",
        { class: "chips" },
        place && h("span", { class: "chip", "data-testid": "customer-place" }, place),
        u?.os && h("span", { class: "chip" }, u.os),
        u?.ipAddress && h("span", { class: "chip mono" }, u.ipAddress),
        channel && h("span", { class: "chip", "data-testid": "channel" }, `${channel}${c.conversationType ? ` · ${c.conversationType}` : ""}`),
        c.language && h("span", { class: "chip" }, c.language.toUpperCase()),
      ),
    ),
    h(
      "div",
      { class: "status-box" },
      h("div", { class: "eyebrow" }, "Status"),
      pill(c.status || "UNKNOWN", statusTone(c.status), "status"),
      h("div", { class: "mono small", "data-testid": "conversation-id" }, c.id),
    ),
  );

  const stats = h(
    "section",
    { class: "stats" },
    stat("Started", dateTime(start), "started"),
    stat("Ended", dateTime(end), "ended"),
    stat("Handle time", human(start !== undefined && end !== undefined ? end - start : undefined), "handle-time"),
    stat("Wait time", human(durationMs(c.waitTime)), "wait-time", "before an agent answered"),
    stat("Priority", c.priority === undefined ? "—" : String(c.priority), "priority"),
    stat("Transfers", String(c.transferDetails.length), "transfer-count"),
  );

  const events = timeline(c, agentName);
  const tl = card(
    "Timeline",
    "timeline",
    h(
      "ol",
      { class: "timeline" },
      ...events.map((e) =>
        h(
          "li",
          { class: `ev ${e.kind}`, "data-kind": e.kind },
          h("div", { class: "ev-time" }, h("span", { class: "mono" }, clock(e.at)), h("span", { class: "ev-off" }, offset(e.at, start))),
          h("div", { class: "ev-dot", "aria-hidden": "true" }),
          h("div", { class: "ev-body" }, h("div", { class: "ev-title" }, e.title), e.detail && h("div", { class: "ev-detail" }, e.detail)),
        ),
      ),
    ),
  );

  const d = c.dispositions;
  const disposition = h(
    "section",
    { class: `card disposition ${dispositionTone(d?.status ?? "")}`, "data-testid": "disposition" },
    h("h2", {}, "Disposition"),
    h("div", { class: "disp-status", "data-testid": "disposition-status" }, d?.status || "Not dispositioned"),
    d?.metaStatus && h("div", { class: "disp-meta", "data-testid": "disposition-meta" }, words(d.metaStatus)),
    d?.remarks && h("blockquote", { "data-testid": "disposition-remarks" }, d.remarks),
    h(
      "div",
      { class: "flags" },
      pill(`Survey ${c.surveyRequired ? "required" : "not required"}`, c.surveyRequired ? "info" : "muted", "survey"),
      pill(`Callback ${c.callbackOpted ? "requested" : "not requested"}`, c.callbackOpted ? "info" : "muted", "callback"),
    ),
  );

  const agentsCard = card(
    "Agents",
    "agents",
    c.participants.length === 0
      ? h("p", { class: "empty" }, "No agent took part.")
      : h(
          "ul",
          { class: "rows" },
          ...c.participants.map((p) => {
            const a = ms(p.startTimeStamp);
            const b = ms(p.endTimeStamp);
            return h(
              "li",
              {},
              h("div", { class: "row-main" }, h("strong", {}, p.name || p.agentId), pill(p.status || "—", statusTone(p.status))),
              h(
                "div",
                { class: "row-sub" },
                [p.queueName && `via ${p.queueName}`, `handled ${human(a !== undefined && b !== undefined ? b - a : undefined)}`, p.onInterrupt ? "interrupted" : ""]
                  .filter(Boolean)
                  .join(" · "),
              ),
            );
          }),
        ),
  );

  const queuesCard = card(
    "Queues",
    "queues",
    h(
      "ul",
      { class: "rows" },
      ...c.queues.map((q) =>
        h(
          "li",
          {},
          h("div", { class: "row-main" }, h("strong", {}, q.name || q.id), pill(q.status || "—", statusTone(q.status))),
          h("div", { class: "row-sub" }, `${words(q.type)} at ${dateTime(ms(q.startTime))}`),
        ),
      ),
    ),
  );

  const pages = c.agentDesktopMeta?.pagesVisited ?? [];
  const contextCard = card(
    "Before the chat",
    "context",
    h(
      "dl",
      { class: "kv" },
      h("dt", {}, "Asked for"),
      h("dd", { "data-testid": "intent" }, c.keyIntentUserInput ? `“${c.keyIntentUserInput}”` : "—"),
      h("dt", {}, "Intent"),
      h("dd", {}, c.keyIntentName || "—"),
      ...pages.flatMap((p) => [
        h("dt", {}, "Page"),
        h("dd", {}, `${p.page} · ${human(durationMs(p.timespent))} (${dateTime(ms(p.timestamp)).slice(0, 10)})`),
      ]),
      u?.hostDomain ? h("dt", {}, "Site") : null,
      u?.hostDomain ? h("dd", { class: "mono" }, u.hostDomain) : null,
    ),
  );

  const layout = h(
    "div",
    { class: "layout" },
    h("div", { class: "col-main" }, tl),
    h("div", { class: "col-side" }, disposition, agentsCard, queuesCard, contextCard),
  );

  const root = h("div", { "data-testid": "conversation" }, header, stats, layout);
  setFooter(o, `fetched in ${Math.round(tookMs)} ms`);
  return root;
}

function renderError(err: unknown, o: Options): HTMLElement {
  const ce = ConnectError.from(err);
  let title = "Could not load the conversation";
  let hint = "";
  switch (ce.code) {
    case Code.NotFound:
      title = "Conversation not found";
      hint = "SmartAssist does not know this conversation in this stream.";
      break;
    case Code.InvalidArgument:
      title = "That id is not valid";
      hint = "Stream and conversation ids are 1 to 128 letters, digits, dots, dashes or underscores.";
      break;
    case Code.DeadlineExceeded:
      title = "SmartAssist took too long to answer";
      break;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      title = "SmartAssist refused the credentials";
      break;
    case Code.Unknown:
    case Code.Unavailable:
      if (/fetch|network/i.test(ce.rawMessage)) {
        title = "The bridge could not be reached from this page";
        hint = `The browser blocked or lost the request to ${o.base}. If the bridge is up, this page's origin (${location.origin}) is probably not among its allowed CORS origins.`;
      }
      break;
  }
  setFooter(o, "failed");
  return h(
    "section",
    { class: "card error", role: "alert", "data-testid": "error", "data-code": Code[ce.code] },
    h("h1", {}, title),
    hint && h("p", {}, hint),
    h("p", { class: "mono small", "data-testid": "error-detail" }, `[${Code[ce.code]}] ${ce.rawMessage}`),
  );
}

function setFooter(o: Options, what: string) {
  const f = document.querySelector("footer")!;
  f.replaceChildren(
    h("span", { "data-testid": "transport-label" }, transportLabel(o)),
    " · ",
    h("span", { class: "mono" }, o.base),
    " · ",
    h("span", { class: "mono" }, o.stream),
    " · ",
    what,
  );
}

function fillForm(o: Options) {
  const form = document.querySelector<HTMLFormElement>("#lookup")!;
  (form.elements.namedItem("stream") as HTMLInputElement).value = o.stream;
  (form.elements.namedItem("conversation") as HTMLInputElement).value = o.conversation;
  (form.elements.namedItem("transport") as HTMLSelectElement).value = o.transport;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams(location.search);
    for (const k of ["stream", "conversation", "transport"]) {
      q.set(k, (form.elements.namedItem(k) as HTMLInputElement).value.trim());
    }
    location.search = q.toString();
  });
}

async function main() {
  const o = readOptions();
  fillForm(o);
  const app = document.querySelector("#app")!;
  const client = createClient(ConversationService, makeTransport(o));
  const t0 = performance.now();
  try {
    const res = await client.getConversation(
      { streamId: o.stream, conversationId: o.conversation },
      { timeoutMs: 10_000 },
    );
    if (!res.conversation) throw new ConnectError("the bridge answered without a conversation", Code.Internal);
    app.replaceChildren(render(res.conversation, o, performance.now() - t0));
    document.title = `${res.conversation.status} · ${res.conversation.id} · Conversation review`;
    document.body.dataset.state = "loaded";
  } catch (err) {
    app.replaceChildren(renderError(err, o));
    document.body.dataset.state = "error";
  }
}

void main();
