// What every view shares: the options read from the query string, the
// client on the chosen transport, the footer, navigation and errors.
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConversationService } from "./gen/smartassist/v1/conversation_service_pb";
import { h } from "./dom";

export const SAMPLE_STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";

export interface Options {
  base: string;
  transport: "connect" | "grpcweb";
  format: "json" | "binary";
  get: boolean;
  stream: string;
}

export function readOptions(q = new URLSearchParams(location.search)): Options {
  return {
    base: q.get("base") ?? `${location.protocol}//${location.hostname}:18080`,
    transport: q.get("transport") === "grpcweb" ? "grpcweb" : "connect",
    format: q.get("format") === "binary" ? "binary" : "json",
    get: q.get("get") === "1",
    stream: q.get("stream") || SAMPLE_STREAM,
  };
}

function makeTransport(o: Options): Transport {
  if (o.transport === "grpcweb") {
    return createGrpcWebTransport({ baseUrl: o.base });
  }
  return createConnectTransport({
    baseUrl: o.base,
    useBinaryFormat: o.format === "binary",
    // Only unary calls can use GET; streams always POST.
    useHttpGet: o.get,
  });
}

export function transportLabel(o: Options): string {
  if (o.transport === "grpcweb") return "gRPC-Web (binary)";
  return `Connect (${o.format === "binary" ? "binary" : "JSON"}, ${o.get ? "GET" : "POST"})`;
}

export type ConversationClient = Client<typeof ConversationService>;

export interface App {
  o: Options;
  client: ConversationClient;
  /** The view's root. */
  main: HTMLElement;
  /** Aborted when the view is left: pending calls and streams stop. */
  signal: AbortSignal;
  /** Goes to another view: merges params into the query string. */
  navigate(params: Record<string, string | null>, state?: unknown): void;
}

export function newClient(o: Options): ConversationClient {
  return createClient(ConversationService, makeTransport(o));
}

/** Sets body[data-state]; the tests wait on it. */
export function setState(state: "loading" | "loaded" | "error", view: "list" | "detail") {
  document.body.dataset.state = state;
  document.body.dataset.view = view;
}

export function setFooter(o: Options, what: string) {
  const f = document.querySelector("footer")!;
  f.replaceChildren(
    h("span", { "data-testid": "transport-label" }, transportLabel(o)),
    " · ",
    h("span", { class: "mono" }, o.base),
    " · ",
    h("span", { class: "mono" }, o.stream),
    " · ",
    h("span", { "data-testid": "footer-what" }, what),
  );
}

/** An error card saying what went wrong in a supervisor's words. */
export function renderError(err: unknown, o: Options, what: string): HTMLElement {
  const ce = ConnectError.from(err);
  let title = `Could not load ${what}`;
  let hint = "";
  switch (ce.code) {
    case Code.NotFound:
      title = what === "the conversation" ? "Conversation not found" : "Stream not found";
      hint = "SmartAssist does not know this conversation in this stream.";
      break;
    case Code.InvalidArgument:
      title = "That request is not valid";
      hint = "Stream and conversation ids are 1 to 128 letters, digits, dots, dashes or underscores; page tokens only work with the filters that made them.";
      if (what === "the conversation") title = "That id is not valid";
      break;
    case Code.DeadlineExceeded:
      title = "SmartAssist took too long to answer";
      break;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      title = "SmartAssist refused the credentials";
      break;
    case Code.ResourceExhausted:
      title = "SmartAssist's rate limit was reached";
      hint = "Try again in a moment.";
      break;
    case Code.Unknown:
    case Code.Unavailable:
      if (/fetch|network/i.test(ce.rawMessage)) {
        title = "The bridge could not be reached from this page";
        hint = `The browser blocked or lost the request to ${o.base}. If the bridge is up, this page's origin (${location.origin}) is probably not among its allowed CORS origins.`;
      }
      break;
  }
  return h(
    "section",
    { class: "card error", role: "alert", "data-testid": "error", "data-code": Code[ce.code] },
    h("h1", {}, title),
    hint && h("p", {}, hint),
    h("p", { class: "mono small", "data-testid": "error-detail" }, `[${Code[ce.code]}] ${ce.rawMessage}`),
  );
}

/** Resolves after ms, or at once when signal is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}
