// The rendering of one conversation, shared by the one-shot review
// (GetConversation) and the live view (WatchConversation).
import type { Conversation } from "./gen/smartassist/v1/conversation_pb";
import { card, h, pill, statusTone, type Child } from "./dom";
import { CHANNELS, clock, dateTime, durationMs, human, ms, offset, VOICE_CHANNELS, words } from "./format";

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

/** The customer's name, else the number a caller called from, else "". */
export function customerName(c: Conversation): string {
  const u = c.userInfo;
  return [u?.firstName, u?.lastName].filter(Boolean).join(" ") || c.phoneNumber || u?.caller || "";
}

/** "😠 anger" */
export function sentimentLabel(c: Conversation): string {
  const t = c.sentimentTone;
  return t?.sentiment ? `${t.emoji ? `${t.emoji} ` : ""}${t.sentiment}` : "";
}

// ---------------------------------------------------------------- timeline

interface Event {
  at: number;
  order: number; // ties: the order things happen in a contact center
  kind: "system" | "queue" | "agent" | "transfer" | "note";
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
  for (const n of c.agentNotes) {
    const author = [n.author?.firstName, n.author?.lastName].filter(Boolean).join(" ") || agentName(n.author?.userId ?? "");
    push(ms(n.timestamp), { order: 6, kind: "note", title: `Note by ${author}`, detail: n.note });
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

/**
 * Renders a conversation. side, when given, goes first in the side column
 * (the live view's update log).
 */
export function renderConversation(c: Conversation, side?: HTMLElement): HTMLElement {
  const u = c.userInfo;
  const agents = new Map(c.participants.map((p) => [p.agentId, p.name]));
  const agentName = (id: string) => agents.get(id) || id || "system";
  const start = ms(c.startTime);
  const end = ms(c.endTime);
  const fullName = [u?.firstName, u?.lastName].filter(Boolean).join(" ");
  const initials = fullName ? fullName.split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase() : "?";
  const place = [u?.city, u?.country].filter(Boolean).join(", ");
  const channel = CHANNELS[c.source] ?? c.source;
  const voice = VOICE_CHANNELS.has(c.source);
  const sentiment = sentimentLabel(c);

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
        voice && c.phoneNumber && h("span", { class: "chip mono", "data-testid": "phone" }, `☎ ${c.phoneNumber}`),
        sentiment && h("span", { class: "chip", "data-testid": "sentiment" }, `Sentiment ${sentiment}`),
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
    stat("Ended", end === undefined && c.status !== "CLOSED" ? "— (ongoing)" : dateTime(end), "ended"),
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
    d?.choices.length
      ? h("div", { class: "chips" }, ...d.choices.map((x) => h("span", { class: "chip" }, `${x.dispositionsSet}: ${x.dispositionCodes}`)))
      : null,
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
                [p.queueName && `via ${p.queueName}`, b === undefined ? "handling now" : `handled ${human(a !== undefined ? b - a : undefined)}`, p.onInterrupt ? "interrupted" : ""]
                  .filter(Boolean)
                  .join(" · "),
              ),
            );
          }),
        ),
  );

  const notesCard: Child =
    c.agentNotes.length > 0 &&
    card(
      "Agent notes",
      "notes",
      h(
        "ul",
        { class: "rows" },
        ...c.agentNotes.map((n) =>
          h(
            "li",
            {},
            h("div", {}, n.note),
            h("div", { class: "row-sub" }, `${[n.author?.firstName, n.author?.lastName].filter(Boolean).join(" ") || "—"} · ${dateTime(ms(n.timestamp))}`),
          ),
        ),
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
    voice ? "The call" : "Before the chat",
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
      voice && u?.caller ? h("dt", {}, "Caller") : null,
      voice && u?.caller ? h("dd", { class: "mono" }, u.caller) : null,
      voice && c.botSipUri ? h("dt", {}, "Bot SIP URI") : null,
      voice && c.botSipUri ? h("dd", { class: "mono" }, c.botSipUri) : null,
    ),
  );

  const layout = h(
    "div",
    { class: "layout" },
    h("div", { class: "col-main" }, tl),
    h("div", { class: "col-side" }, side, disposition, agentsCard, notesCard, queuesCard, contextCard),
  );

  return h("div", { "data-testid": "conversation" }, header, stats, layout);
}
