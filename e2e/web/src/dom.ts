// A tiny DOM builder: the page renders from data on every change, so
// elements are made, never patched.

export type Child = Node | string | null | undefined | false;

export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

export function pill(text: string, tone: string, testid?: string): HTMLElement {
  const a: Record<string, string> = { class: `pill ${tone}` };
  if (testid) a["data-testid"] = testid;
  return h("span", a, text);
}

export function statusTone(status: string): string {
  switch (status.toUpperCase()) {
    case "ACTIVE":
    case "OPEN":
      return "good";
    case "IDLE":
    case "WAITING":
    case "ON_HOLD":
      return "warn";
    case "OVERDUE":
    case "TERMINATED":
    case "ABANDONED":
      return "bad";
    default:
      return "muted";
  }
}

export function card(title: string, testid: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card", "data-testid": testid }, h("h2", {}, title), ...children);
}
