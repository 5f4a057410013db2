// A supervisor's console for SmartAssist conversations, talking to
// smartassist-bridge with Connect-Web. The page is deliberately served from
// another origin than the bridge, so every call crosses CORS like a real
// frontend's would.
//
// Views (chosen by the query string; Back and Forward work):
//   (no conversation)     the list: ListConversations, filtered and paged
//   conversation=c-…      one conversation, live over WatchConversation
//   …&live=0              the same read once with GetConversation
//
// Query string:
//   base=http://127.0.0.1:18080   the bridge's URL (default: same host, port 18080)
//   transport=connect|grpcweb     the Connect-Web transport (default connect)
//   format=json|binary            the Connect transport's codec (default json)
//   get=1                         Connect GET for GetConversation (unary only)
//   stream=st-…                   the stream (default: the documented sample's)
//   statuses=CLOSED,OPEN&source=rtm&language=en&size=10&page=<token>
//                                 the list's filters, page size and page token
import { newClient, readOptions, type App } from "./app";
import { showDetail } from "./detail";
import { readListState, showList } from "./list";

const main = document.querySelector<HTMLElement>("#app")!;
let current: AbortController | undefined;

function navigate(params: Record<string, string | null>, state?: unknown) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  history.pushState(state ?? null, "", `?${q}`);
  route();
}

function route() {
  // Leaving a view stops its calls: a watch that is no longer shown must
  // not keep a stream (and the bridge's poller) open.
  current?.abort();
  current = new AbortController();
  const q = new URLSearchParams(location.search);
  const o = readOptions(q);
  const id = q.get("conversation") ?? "";
  fillForm(o.stream, id, o.transport);
  const app: App = { o, client: newClient(o), main, signal: current.signal, navigate };
  if (id) void showDetail(app, id, q.get("live") !== "0");
  else void showList(app, readListState(q, history.state));
}

function fillForm(stream: string, conversation: string, transport: string) {
  const form = document.querySelector<HTMLFormElement>("#lookup")!;
  (form.elements.namedItem("stream") as HTMLInputElement).value = stream;
  (form.elements.namedItem("conversation") as HTMLInputElement).value = conversation;
  (form.elements.namedItem("transport") as HTMLSelectElement).value = transport;
}

document.querySelector<HTMLFormElement>("#lookup")!.addEventListener("submit", (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const value = (k: string) => (form.elements.namedItem(k) as HTMLInputElement).value.trim();
  const q = new URLSearchParams(location.search);
  const params: Record<string, string | null> = {
    stream: value("stream") || null,
    conversation: value("conversation") || null,
    transport: value("transport"),
    live: null,
  };
  // A page token belongs to its stream.
  if ((params.stream ?? "") !== (q.get("stream") ?? "")) params.page = null;
  // Another transport keeps the list's place (and its earlier pages).
  navigate(params, params.page === null ? null : history.state);
});
window.addEventListener("popstate", route);
route();
