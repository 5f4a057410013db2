// The console's list: one page of a stream's conversations from
// ListConversations, filtered by status (several at once), channel and
// language, paged with the opaque page tokens the bridge hands out.
//
// The query string holds the filters and the current page's token, so a
// page can be shared and reloaded; the tokens of the pages before it live
// in history.state, so Previous and the browser's Back both work.
import type { Conversation } from "./gen/smartassist/v1/conversation_pb";
import { customerName } from "./conversation";
import { h, pill, statusTone } from "./dom";
import { CHANNELS, LANGUAGES, ms, shortDateTime, STATUSES, VOICE_CHANNELS } from "./format";
import { renderError, setFooter, setState, type App } from "./app";

export interface ListState {
  statuses: string[];
  source: string;
  language: string;
  size: number;
  /** tokens[i] is the page token of page i+1; the last is the current page's. */
  tokens: string[];
}

const PAGE_SIZES = [5, 10, 20, 50];
const DEFAULT_SIZE = 10;

/**
 * The fields a row shows (AIP-157 paths of Conversation): the list asks for
 * only these, so a page of full conversations does not cross the wire.
 */
export const LIST_MASK = [
  "id",
  "status",
  "source",
  "language",
  "conversation_type",
  "priority",
  "start_time",
  "updated_at",
  "phone_number",
  "user_info.first_name",
  "user_info.last_name",
  "user_info.caller",
  "participants",
  "sentiment_tone",
];

export function readListState(q: URLSearchParams, history: unknown): ListState {
  const size = Number(q.get("size"));
  const page = q.get("page") ?? "";
  const saved = (history as { tokens?: unknown } | null)?.tokens;
  let tokens = [""];
  if (Array.isArray(saved) && saved.length > 0 && saved[saved.length - 1] === page) {
    tokens = saved.map(String);
  } else if (page) {
    // Opened from a shared link: the pages before are unknown, so
    // Previous goes back to the first page.
    tokens = ["", page];
  }
  return {
    statuses: (q.get("statuses") ?? "").split(",").filter((s) => STATUSES.includes(s)),
    source: q.get("source") ?? "",
    language: q.get("language") ?? "",
    size: PAGE_SIZES.includes(size) ? size : DEFAULT_SIZE,
    tokens,
  };
}

function listParams(s: ListState): Record<string, string | null> {
  const token = s.tokens[s.tokens.length - 1];
  return {
    conversation: null,
    live: null,
    statuses: s.statuses.length ? s.statuses.join(",") : null,
    source: s.source || null,
    language: s.language || null,
    size: s.size === DEFAULT_SIZE ? null : String(s.size),
    page: token || null,
  };
}

/** Goes to the list in state s (new filters start again at page 1). */
function go(app: App, s: ListState) {
  app.navigate(listParams(s), { tokens: s.tokens });
}

// ---------------------------------------------------------------- filters

function select(testid: string, label: string, value: string, options: [string, string][], onChange: (v: string) => void) {
  const el = h("select", { "data-testid": testid }, ...options.map(([v, text]) => h("option", { value: v }, text))) as HTMLSelectElement;
  el.value = value;
  el.addEventListener("change", () => onChange(el.value));
  return h("label", { class: "field" }, h("span", {}, label), el);
}

function filters(app: App, s: ListState): HTMLElement {
  const restart = (patch: Partial<ListState>) => go(app, { ...s, ...patch, tokens: [""] });
  const statusBoxes = STATUSES.map((st) => {
    const box = h("input", { type: "checkbox", value: st, "data-testid": `filter-status-${st}` }) as HTMLInputElement;
    box.checked = s.statuses.includes(st);
    box.addEventListener("change", () =>
      restart({ statuses: STATUSES.filter((x) => (x === st ? box.checked : s.statuses.includes(x))) }),
    );
    return h("label", { class: "check" }, box, h("span", {}, st));
  });
  const any = (label: string): [string, string] => ["", label];
  const clear = h("button", { type: "button", class: "ghost", "data-testid": "filter-clear" }, "Clear");
  clear.addEventListener("click", () => restart({ statuses: [], source: "", language: "" }));
  return h(
    "section",
    { class: "card filters", "data-testid": "filters" },
    h("fieldset", { class: "statuses", "data-testid": "filter-statuses" }, h("legend", {}, "Status"), ...statusBoxes),
    select("filter-source", "Channel", s.source, [any("Any channel"), ...Object.entries(CHANNELS)], (v) => restart({ source: v })),
    select("filter-language", "Language", s.language, [any("Any language"), ...Object.entries(LANGUAGES)], (v) => restart({ language: v })),
    select("filter-size", "Per page", String(s.size), PAGE_SIZES.map((n) => [String(n), String(n)]), (v) =>
      restart({ size: Number(v) }),
    ),
    clear,
  );
}

// ---------------------------------------------------------------- table

function sentimentTone(sentiment: string): string {
  switch (sentiment) {
    case "anger":
    case "negative":
      return "bad";
    case "fear":
    case "sadness":
      return "warn";
    case "joy":
    case "positive":
      return "good";
    default:
      return "muted";
  }
}

function row(app: App, c: Conversation): HTMLElement {
  const href = `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), conversation: c.id })}`;
  const open = (e: Event) => {
    if (e instanceof MouseEvent && (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0)) return;
    e.preventDefault();
    app.navigate({ conversation: c.id, live: null }, { fromList: true });
  };
  const voice = VOICE_CHANNELS.has(c.source);
  const name = customerName(c);
  const agents = c.participants.map((p) => p.name || p.agentId);
  const handling = c.participants.filter((p) => !p.endTimeStamp).map((p) => p.name || p.agentId);
  const tr = h(
    "tr",
    { "data-testid": "conversation-row", "data-id": c.id, "data-status": c.status, tabindex: "0" },
    h("td", {}, pill(c.status || "—", statusTone(c.status))),
    h("td", {}, h("a", { href, class: "mono conv-id", title: c.id }, c.id)),
    h("td", {}, name ? h("span", { class: voice ? "mono" : "" }, name) : h("span", { class: "muted" }, "Unnamed")),
    h("td", {}, h("span", { class: `channel ${voice ? "voice" : "chat"}` }, voice ? "Call" : "Chat"), " ", CHANNELS[c.source] ?? c.source),
    h("td", { class: "mono" }, c.language.toUpperCase() || "—"),
    h("td", {}, handling.length ? handling.join(", ") : agents.length ? h("span", { class: "muted" }, agents[agents.length - 1]) : h("span", { class: "muted" }, "waiting")),
    h("td", {}, c.sentimentTone?.sentiment ? pill(c.sentimentTone.sentiment, sentimentTone(c.sentimentTone.sentiment)) : h("span", { class: "muted" }, "—")),
    h("td", { class: "mono num" }, c.priority === undefined ? "—" : String(c.priority)),
    h("td", { class: "mono" }, shortDateTime(ms(c.startTime))),
  );
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (e) => e.key === "Enter" && open(e));
  return tr;
}

// The table of the previous page, shown dimmed while the next one loads.
let lastTable: HTMLElement | null = null;

export async function showList(app: App, s: ListState) {
  const { o, client, main, signal } = app;
  const page = s.tokens.length;
  setState("loading", "list");
  document.title = "Conversations · SmartAssist console";
  const slot = h("div", { class: "list-slot" });
  if (lastTable) {
    lastTable.classList.add("stale");
    slot.append(lastTable);
  } else {
    slot.append(h("p", { class: "loading" }, "Loading conversations…"));
  }
  main.replaceChildren(filters(app, s), slot);

  const t0 = performance.now();
  try {
    const res = await client.listConversations(
      {
        streamId: o.stream,
        pageSize: s.size,
        pageToken: s.tokens[page - 1],
        statuses: s.statuses,
        source: s.source,
        language: s.language,
        readMask: { paths: LIST_MASK },
      },
      { signal, timeoutMs: 10_000 },
    );
    if (signal.aborted) return;
    const took = performance.now() - t0;
    const from = (page - 1) * s.size + 1;
    const to = from + res.conversations.length - 1;
    const pages = Math.max(1, Math.ceil(res.totalSize / s.size));
    const prev = h("button", { type: "button", "data-testid": "page-prev" }, "← Previous") as HTMLButtonElement;
    const next = h("button", { type: "button", "data-testid": "page-next" }, "Next →") as HTMLButtonElement;
    prev.disabled = page === 1;
    next.disabled = res.nextPageToken === "";
    prev.addEventListener("click", () => {
      if ((history.state as { tokens?: unknown } | null)?.tokens) history.back();
      else go(app, { ...s, tokens: s.tokens.slice(0, -1) });
    });
    next.addEventListener("click", () => go(app, { ...s, tokens: [...s.tokens, res.nextPageToken] }));
    const filtered = [s.statuses.join(" or "), CHANNELS[s.source] ?? s.source, LANGUAGES[s.language] ?? s.language].filter(Boolean);
    const table = h(
      "section",
      {
        class: "card list",
        "data-testid": "list",
        "data-page": String(page),
        "data-rows": String(res.conversations.length),
        "data-total": String(res.totalSize),
        "data-statuses": s.statuses.join(","),
        "data-source": s.source,
        "data-language": s.language,
        "data-next": res.nextPageToken ? "1" : "0",
      },
      h(
        "div",
        { class: "list-head" },
        h("h2", {}, "Conversations"),
        h(
          "div",
          { class: "list-summary", "data-testid": "list-summary" },
          res.totalSize === 0
            ? "No conversation matches"
            : `${res.totalSize} ${filtered.length ? `match ${filtered.join(" · ")}` : "conversations"} · showing ${from}–${to}`,
        ),
      ),
      res.conversations.length === 0
        ? h("p", { class: "empty", "data-testid": "list-empty" }, "Nothing to show. Clear a filter to see more.")
        : h(
            "table",
            { class: "conv-table" },
            h(
              "thead",
              {},
              h("tr", {}, ...["Status", "Conversation", "Customer", "Channel", "Lang", "Agent", "Sentiment", "Prio", "Started"].map((t) => h("th", {}, t))),
            ),
            h("tbody", {}, ...res.conversations.map((c) => row(app, c))),
          ),
      h("div", { class: "pager" }, prev, h("span", { "data-testid": "page-number" }, `Page ${page} of ${pages}`), next),
    );
    lastTable = table;
    slot.replaceChildren(table);
    setFooter(o, `ListConversations in ${Math.round(took)} ms · page ${page}`);
    setState("loaded", "list");
  } catch (err) {
    if (signal.aborted) return;
    lastTable = null;
    slot.replaceChildren(renderError(err, o, "the conversations"));
    setFooter(o, "failed");
    setState("error", "list");
  }
}
