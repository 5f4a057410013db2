// Checks JSON that generic tools (grpcurl, buf curl, curl) printed, read from
// stdin. Prints one line saying what was wrong and exits 1, or exits 0.
//
//   expect.mjs conversation                  canonical proto3 JSON of GetConversationResponse
//   expect.mjs connect-error CODE REASON     a Connect error body with a google.rpc.ErrorInfo
//   expect.mjs watch-sample N                N messages as grpcurl prints a stream, each the sample
//   expect.mjs list ROWS TOTAL NEXT          a ListConversationsResponse with ROWS conversations,
//                                            totalSize TOTAL, and a next page token (NEXT=1) or none (0);
//                                            prints the token
//   expect.mjs list-statuses S1,S2           a ListConversationsResponse whose rows are all in S1,S2
import gpf from "google-proto-files";
import protobuf from "protobufjs";

const [mode, ...args] = process.argv.slice(2);
const input = await new Promise((resolve) => {
  let s = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => resolve(s));
});

function fail(msg) {
  console.log(msg);
  process.exit(1);
}
function eq(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    fail(`not JSON (${err.message}): ${text.slice(0, 200).replace(/\s+/g, " ")}`);
  }
}

/** Checks a GetConversationResponse (or a WatchConversationResponse) holding the sample. */
function checkSample(doc, text) {
  const c = doc.conversation;
  if (!c) fail(`no "conversation" in ${text.slice(0, 200).replace(/\s+/g, " ")}`);
  // The proto3 JSON mapping: Duration and Timestamp as strings, int32 as a
  // number, int64 as a string, optional bools present when set to false.
  eq("id", c.id, "c-3c04346-e522-4c53-9e03-c9566d859aad");
  eq("orgId", c.orgId, "o-ca23f4c5-cc3e-586d-90e6-8375bf2d54ab");
  eq("waitTime", c.waitTime, "3.369s");
  eq("startTime", c.startTime, "2023-05-22T04:55:05.351Z");
  eq("endTime", c.endTime, "2023-05-22T05:29:14.086Z");
  eq("timestampValue", c.timestampValue, "2023-05-22T04:55:05.351Z");
  eq("priority", c.priority, 5);
  eq("surveyRequired", c.surveyRequired, true);
  eq("callbackOpted", c.callbackOpted, false);
  eq("isDeveloper", c.isDeveloper, false);
  eq("status", c.status, "CLOSED");
  eq("participants[0].name", c.participants?.[0]?.name, "John Doe");
  eq("participants[0].onInterrupt", c.participants?.[0]?.onInterrupt, true);
  eq("transferDetails[0].transferredTo[0].type", c.transferDetails?.[0]?.transferredTo?.[0]?.type, "QUEUE");
  eq("transferDetails[0].transferredAt", c.transferDetails?.[0]?.transferredAt, "2023-05-22T05:29:14.007Z");
  eq("queues[].type", c.queues?.map((q) => q.type), ["ASSIGNED", "TRANSFERRED"]);
  eq("pagesVisited[0].timespent", c.agentDesktopMeta?.pagesVisited?.[0]?.timespent, "350.312351s");
  eq("dispositions.status", c.dispositions?.status, "DROP-OFF");
  eq("userInfo.agentTransferConfig.lastIntentuserInput", c.userInfo?.agentTransferConfig?.lastIntentuserInput, "I want to talk to an agent");
  // Empty repeated fields are omitted by proto3 JSON, or [] with defaults on.
  for (const k of ["contactFlow", "formData", "skills", "notes"]) {
    if (c[k] !== undefined && !(Array.isArray(c[k]) && c[k].length === 0)) fail(`${k}: got ${JSON.stringify(c[k])}`);
  }
  if (c.v !== undefined && c.v !== 0 && c.v !== "0") fail(`v: got ${JSON.stringify(c.v)}`);
}

if (mode === "conversation") {
  checkSample(parse(input), input);
} else if (mode === "watch-sample") {
  // grpcurl prints each message of a stream as its own indented JSON
  // object; each closes with a "}" alone on its line.
  const texts = input.trim() === "" ? [] : input.trim().split(/(?<=^\})\s*(?=^\{)/m);
  eq("messages", texts.length, Number(args[0]));
  for (const t of texts) checkSample(parse(t), t);
} else if (mode === "list") {
  const doc = parse(input);
  const [rows, total, next] = args.map(Number);
  eq("conversations", (doc.conversations ?? []).length, rows);
  eq("totalSize", doc.totalSize ?? 0, total);
  eq("nextPageToken present", Boolean(doc.nextPageToken), next === 1);
  for (const c of doc.conversations ?? []) if (!/^c-/.test(c.id ?? "")) fail(`a row without an id: ${JSON.stringify(c).slice(0, 200)}`);
  console.log(doc.nextPageToken ?? "");
} else if (mode === "list-statuses") {
  const doc = parse(input);
  const want = args[0].split(",");
  const got = (doc.conversations ?? []).map((c) => c.status);
  if (got.length === 0) fail("no conversation listed");
  if (!got.every((s) => want.includes(s))) fail(`statuses ${JSON.stringify(got)}, want only ${want}`);
} else if (mode === "connect-error") {
  const doc = parse(input);
  const [code, reason] = args;
  eq("code", doc.code, code);
  const detail = (doc.details ?? []).find((d) => d.type === "google.rpc.ErrorInfo");
  if (!detail) fail(`no google.rpc.ErrorInfo detail in ${JSON.stringify(doc.details)}`);
  // Decode the binary value with Google's published error_details.proto; the
  // optional "debug" rendering is not relied on.
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => (t.startsWith("google/rpc/") ? gpf.getProtoPath("..", t) : t);
  root.loadSync("google/rpc/error_details.proto");
  const ErrorInfo = root.lookupType("google.rpc.ErrorInfo");
  const b64 = detail.value.replace(/-/g, "+").replace(/_/g, "/");
  const info = ErrorInfo.toObject(ErrorInfo.decode(Buffer.from(b64, "base64")));
  eq("ErrorInfo.domain", info.domain, "smartassist-bridge");
  eq("ErrorInfo.reason", info.reason, reason);
} else {
  fail(`unknown mode ${mode}`);
}
