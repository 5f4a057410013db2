// A fake SmartAssist REST upstream for the cases demo mode cannot cover: a
// slow answer (deadlines), forwarded credentials, and a conversation whose
// free-shape arrays (google.protobuf.Value) are not empty.
//
// GET /agentassist/api/v1/public/{streamId}/conversations/{conversationId}
// with headers auth and accountId, like SmartAssist. Conversation ids:
//   c-3c04346-e522-4c53-9e03-c9566d859aad  the documented sample
//   c-e2e-values                           the sample with filled contactFlow and notes
//   c-e2e-slow                             the sample after --slow-ms (default 5000)
//   anything else                          404 {"errors":[{"msg":"Conversation not found","code":"404"}]}
// Without an auth header it answers 401, as SmartAssist does.
//
// Control endpoints for the tests: GET /_e2e/healthz, GET /_e2e/requests
// (every upstream request seen, with its headers and whether the caller
// hung up before the answer), POST /_e2e/reset.
import { readFileSync } from "node:fs";
import http from "node:http";
import { flags } from "./lib/cases.mjs";

const f = flags();
const port = Number(f.port ?? 18082);
const slowMs = Number(f["slow-ms"] ?? 5000);
const sample = readFileSync(new URL("../../service/demo/conversation.json", import.meta.url), "utf8");

export const STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";
const withValues = (() => {
  const c = JSON.parse(sample);
  c._id = "c-e2e-values";
  c.contactFlow = [
    { node: "welcome", type: "messagePrompt", visits: 2, ok: true },
    "IVR Menu",
    42.5,
    false,
    ["nested", 1],
  ];
  // Notes in the list endpoint's documented shape, plus a key no model names.
  c.notes = [
    {
      _id: "646f0750d15e5a3db2ae1001",
      conversationId: "c-e2e-values",
      author: { _id: "646f0750d15e5a3db2ae0001", firstName: "John", lastName: "Doe", userId: "u-b19cd89e-6533-59af-b491-eec9bf8f8b9f" },
      note: "Customer asked for a callback",
      timestamp: "2023-05-22T05:01:02.003Z",
      pinned: true,
    },
  ];
  return JSON.stringify(c);
})();

const requests = [];
const route = /^\/agentassist\/api\/v1\/public\/([^/]+)\/conversations\/([^/?]+)$/;

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/_e2e/healthz") return json(res, 200, { ok: true });
  if (url.pathname === "/_e2e/requests") return json(res, 200, requests);
  if (url.pathname === "/_e2e/reset" && req.method === "POST") {
    requests.length = 0;
    return json(res, 200, { ok: true });
  }
  const m = route.exec(url.pathname);
  if (req.method !== "GET" || !m) {
    return json(res, 404, { errors: [{ msg: "Not found", code: "404" }] });
  }
  const [, streamId, conversationId] = m.map(decodeURIComponent);
  const rec = {
    streamId,
    conversationId,
    auth: req.headers["auth"] ?? null,
    accountId: req.headers["accountid"] ?? null,
    receivedAt: Date.now(),
    answeredAt: null,
    abortedAt: null,
  };
  requests.push(rec);
  res.on("close", () => {
    if (!res.writableFinished) rec.abortedAt = Date.now();
  });
  const answer = (status, body) => {
    if (res.destroyed) return;
    rec.answeredAt = Date.now();
    json(res, status, body);
  };
  if (!rec.auth) return answer(401, { errors: [{ msg: "Unauthorized", code: "401" }] });
  if (streamId !== STREAM) return answer(404, { errors: [{ msg: "Conversation not found", code: "404" }] });
  switch (conversationId) {
    case "c-3c04346-e522-4c53-9e03-c9566d859aad":
      return answer(200, sample);
    case "c-e2e-values":
      return answer(200, withValues);
    case "c-e2e-slow": {
      const t = setTimeout(() => answer(200, sample), slowMs);
      res.on("close", () => clearTimeout(t));
      return;
    }
    default:
      return answer(404, { errors: [{ msg: "Conversation not found", code: "404" }] });
  }
});

server.listen(port, "127.0.0.1", () => {
  console.error(`fake upstream listening on 127.0.0.1:${port}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
