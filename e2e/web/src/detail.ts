// The console's detail view: one conversation, followed live over
// WatchConversation (the default), or read once with GetConversation
// (live=0, the review of a finished conversation, which can use Connect GET).
//
// The watch's first message is the current state; each later one is a
// change. The stream ends with OK after the state in which the
// conversation is CLOSED; when the bridge drains it ends with UNAVAILABLE,
// and the view resumes it (resuming is always safe: the method has no side
// effects, and it starts again with the current state).
import { equals } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConversationSchema, type Conversation } from "./gen/smartassist/v1/conversation_pb";
import { renderConversation, sentimentLabel } from "./conversation";
import { h, pill } from "./dom";
import { clock, dateTime, ms } from "./format";
import { renderError, setFooter, setState, sleep, transportLabel, type App } from "./app";

type LiveState = "CONNECTING" | "LIVE" | "CLOSED" | "ENDED" | "RECONNECTING" | "DISCONNECTED";

const LIVE_TONE: Record<LiveState, string> = {
  CONNECTING: "muted",
  LIVE: "good live",
  CLOSED: "muted",
  ENDED: "muted",
  RECONNECTING: "warn",
  DISCONNECTED: "bad",
};

/** How many times in a row an UNAVAILABLE stream is resumed. */
const MAX_RESUMES = 5;

/** A link back to the list, keeping its filters and page. */
function backLink(app: App): HTMLElement {
  const q = new URLSearchParams(location.search);
  q.delete("conversation");
  q.delete("live");
  const a = h("a", { href: `?${q}`, class: "back", "data-testid": "back" }, "← Conversations");
  a.addEventListener("click", (e) => {
    e.preventDefault();
    if ((history.state as { fromList?: boolean } | null)?.fromList) history.back();
    else app.navigate({ conversation: null, live: null });
  });
  return a;
}

/** What changed from prev to c, in a supervisor's words. */
function changes(prev: Conversation | undefined, c: Conversation): string[] {
  if (!prev) return ["current state"];
  const out: string[] = [];
  if (prev.status !== c.status) out.push(`status ${prev.status || "—"} → ${c.status || "—"}`);
  const before = new Set(prev.participants.map((p) => p.agentId));
  for (const p of c.participants) if (!before.has(p.agentId)) out.push(`${p.name || p.agentId} joined`);
  for (const p of c.participants) {
    const was = prev.participants.find((x) => x.agentId === p.agentId);
    if (was && !was.endTimeStamp && p.endTimeStamp) out.push(`${p.name || p.agentId} left`);
  }
  if (c.transferDetails.length > prev.transferDetails.length) {
    const t = c.transferDetails[c.transferDetails.length - 1];
    out.push(`transferred to ${t.transferredTo.map((x) => x.name || x.id).join(", ")}`);
  }
  const notes = c.agentNotes.length - prev.agentNotes.length;
  if (notes > 0) out.push(notes === 1 ? "a new note" : `${notes} new notes`);
  if (sentimentLabel(prev) !== sentimentLabel(c)) out.push(`sentiment ${c.sentimentTone?.sentiment || "—"}`);
  if ((prev.dispositions?.status ?? "") !== (c.dispositions?.status ?? "")) out.push(`dispositioned ${c.dispositions?.status || "—"}`);
  return out.length ? out : ["updated"];
}

interface LogEntry {
  received: number;
  updatedAt: number | undefined;
  what: string[];
}

export async function showDetail(app: App, id: string, live: boolean) {
  if (live) return watch(app, id);
  return snapshot(app, id);
}

/** One GetConversation: the review page as it always was. */
async function snapshot(app: App, id: string) {
  const { o, client, main, signal } = app;
  setState("loading", "detail");
  main.replaceChildren(h("p", { class: "loading" }, "Loading conversation…"));
  const t0 = performance.now();
  try {
    const res = await client.getConversation({ streamId: o.stream, conversationId: id }, { signal, timeoutMs: 10_000 });
    if (signal.aborted) return;
    if (!res.conversation) throw new ConnectError("the bridge answered without a conversation", Code.Internal);
    const follow = h("a", { href: `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), live: "1" })}` }, "Follow live");
    main.replaceChildren(
      h(
        "section",
        { class: "livebar card", "data-testid": "snapshotbar" },
        backLink(app),
        pill("SNAPSHOT", "muted", "live-state"),
        h("span", { class: "small" }, "read once with GetConversation"),
        h("span", { class: "spacer" }),
        follow,
      ),
      renderConversation(res.conversation),
    );
    document.title = `${res.conversation.status} · ${res.conversation.id} · Conversation review`;
    setFooter(o, `fetched in ${Math.round(performance.now() - t0)} ms`);
    setState("loaded", "detail");
  } catch (err) {
    if (signal.aborted) return;
    main.replaceChildren(h("section", { class: "livebar card" }, backLink(app)), renderError(err, o, "the conversation"));
    setFooter(o, "failed");
    setState("error", "detail");
  }
}

/** Follows the conversation over WatchConversation until it is CLOSED. */
async function watch(app: App, id: string) {
  const { o, client, main, signal } = app;
  setState("loading", "detail");

  const state = pill("CONNECTING", LIVE_TONE.CONNECTING, "live-state");
  state.dataset.state = "CONNECTING";
  const updated = h("span", { class: "live-updated", "data-testid": "live-updated" }, "waiting for the first state");
  const count = h("span", { class: "live-count", "data-testid": "live-updates", "data-count": "0", "data-messages": "0" }, "0 updates");
  const note = h("span", { class: "small", "data-testid": "live-note" }, `WatchConversation over ${transportLabel(o).replace(/, (GET|POST)\)/, ")")}`);
  const bar = h("section", { class: "livebar card", "data-testid": "livebar" }, backLink(app), state, updated, count, h("span", { class: "spacer" }), note);
  const slot = h("div", { class: "live-slot" }, h("p", { class: "loading" }, "Waiting for the conversation…"));
  main.replaceChildren(bar, slot);

  let last: Conversation | undefined;
  let messages = 0;
  let updates = 0;
  let closed = false;
  const log: LogEntry[] = [];
  const setLive = (s: LiveState, detail?: string) => {
    state.textContent = s === "LIVE" ? "● LIVE" : s;
    state.className = `pill ${LIVE_TONE[s]}`;
    state.dataset.state = s;
    if (detail !== undefined) note.textContent = detail;
  };

  const show = (c: Conversation) => {
    const now = Date.now();
    log.unshift({ received: now, updatedAt: ms(c.updatedAt), what: changes(last, c) });
    if (log.length > 12) log.pop();
    const logCard = h(
      "section",
      { class: "card updates", "data-testid": "update-log" },
      h("h2", {}, "Updates received"),
      h(
        "ol",
        { class: "rows" },
        ...log.map((e) =>
          h(
            "li",
            {},
            h("div", { class: "row-main" }, h("strong", { class: "mono" }, clock(e.received)), h("span", { class: "small" }, e.updatedAt ? `record ${clock(e.updatedAt)}` : "")),
            h("div", { class: "row-sub" }, e.what.join(" · ")),
          ),
        ),
      ),
    );
    slot.replaceChildren(renderConversation(c, logCard));
    updated.textContent = `updated ${clock(now)} UTC`;
    updated.title = c.updatedAt ? `the record's updatedAt: ${dateTime(ms(c.updatedAt))}` : "";
    count.textContent = `${updates} update${updates === 1 ? "" : "s"}`;
    count.dataset.count = String(updates);
    count.dataset.messages = String(messages);
    document.title = `${c.status} · ${c.id} · Live`;
    setFooter(o, `WatchConversation · ${messages} message${messages === 1 ? "" : "s"}`);
  };

  let resumes = 0;
  while (!signal.aborted) {
    try {
      let first = true;
      for await (const res of client.watchConversation({ streamId: o.stream, conversationId: id }, { signal })) {
        const c = res.conversation;
        if (!c) continue;
        messages++;
        resumes = 0;
        // A resumed stream starts again with the current state: not a
        // change when nothing changed while it was away.
        const change = last !== undefined && !(first && equals(ConversationSchema, last, c));
        first = false;
        if (last !== undefined && !change) continue;
        if (change) updates++;
        show(c);
        last = c;
        closed = c.status === "CLOSED";
        setLive(closed ? "CLOSED" : "LIVE");
        setState("loaded", "detail");
      }
      if (signal.aborted) return;
      setLive(closed ? "CLOSED" : "ENDED", closed ? "the conversation is closed; the stream ended" : "the stream ended");
      if (last === undefined) {
        slot.replaceChildren(renderError(new ConnectError("the stream ended without a state", Code.Internal), o, "the conversation"));
        setState("error", "detail");
      }
      return;
    } catch (err) {
      if (signal.aborted) return;
      const ce = ConnectError.from(err);
      // Only a first state that cannot be read is an error page; later a
      // lost stream keeps what was shown and says so.
      // UNAVAILABLE is the bridge draining; a network error after a first
      // state is a lost connection (before one, it is most likely CORS).
      const lost = /fetch|network/i.test(ce.rawMessage);
      if ((ce.code === Code.Unavailable && !lost) || (lost && last !== undefined)) {
        if (resumes >= MAX_RESUMES) {
          setLive("DISCONNECTED", `[${Code[ce.code]}] ${ce.rawMessage}; gave up after ${MAX_RESUMES} attempts`);
          return;
        }
        resumes++;
        setLive("RECONNECTING", `[${Code[ce.code]}] ${ce.rawMessage}; resuming (${resumes}/${MAX_RESUMES})`);
        await sleep(500 * 2 ** (resumes - 1), signal);
        continue;
      }
      if (last === undefined) {
        setLive("DISCONNECTED");
        slot.replaceChildren(renderError(err, o, "the conversation"));
        setFooter(o, "failed");
        setState("error", "detail");
      } else {
        setLive("DISCONNECTED", `[${Code[ce.code]}] ${ce.rawMessage}`);
      }
      return;
    }
  }
}
