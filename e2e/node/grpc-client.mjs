// Node backend over gRPC: @grpc/grpc-js with @grpc/proto-loader reading the
// repository's proto/ files at run time, the way a polyglot backend would
// consume the API. Error details are decoded with protobufjs from Google's
// published google/rpc protos (google-proto-files), not from our code.
//
//   node grpc-client.mjs --suite direct --demo 127.0.0.1:18080 --fake 127.0.0.1:18081 --upstream http://127.0.0.1:18082
//   node grpc-client.mjs --suite proxy  --demo 127.0.0.1:18083 --prefix node-grpc-via-nginx
//   node grpc-client.mjs --suite live   --demo 127.0.0.1:18080
//
// Both the direct and the proxy suite also page through ListConversations,
// check read_mask and watch the closed sample (WatchConversation: one
// message, then OK); the live suite watches the demo's live conversation
// until it changes, which takes seconds, so e2e/run runs it beside the rest.
import path from "node:path";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import gpf from "google-proto-files";
import protobuf from "protobufjs";
import { check, checkEqual, flags, runCases } from "./lib/cases.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const f = flags();
const suite = f.suite ?? "direct";
const prefix = f.prefix ?? "node-grpc";
const protoDir = path.resolve(here, f.proto ?? "../../proto");

const STREAM = "st-3bf09bef-f979-5489-b337-f465bd5db1f4";
const CONV = "c-3c04346-e522-4c53-9e03-c9566d859aad";
const LIVE = "c-live-demo";
const DEMO_TOTAL = 30; // the demo stream's conversations (service/demo.ConversationCount)

const pkg = protoLoader.loadSync("smartassist/v1/conversation_service.proto", {
  includeDirs: [protoDir],
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  arrays: true, // an empty repeated field is [] (the wire cannot tell it from unset)
  oneofs: true,
});
const { ConversationService } = grpc.loadPackageDefinition(pkg).smartassist.v1;

// google.rpc.Status and ErrorInfo, from Google's own proto files.
const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  target.startsWith("google/rpc/") ? gpf.getProtoPath("..", target) : target;
rpcRoot.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: false });
const Status = rpcRoot.lookupType("google.rpc.Status");
const ErrorInfo = rpcRoot.lookupType("google.rpc.ErrorInfo");

function client(target) {
  return new ConversationService(target, grpc.credentials.createInsecure());
}

function call(c, req, { deadlineMs = 10_000, metadata = new grpc.Metadata() } = {}) {
  return new Promise((resolve, reject) => {
    c.getConversation(req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function callErr(c, req, opts) {
  try {
    await call(c, req, opts);
  } catch (err) {
    return err;
  }
  throw new Error("call succeeded, want an error");
}

function codeName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) ?? String(code);
}

/** Decodes the ErrorInfo detail from grpc-status-details-bin. */
function errorInfo(err) {
  const raw = err.metadata?.get("grpc-status-details-bin")?.[0];
  check(raw, `no grpc-status-details-bin trailer on ${codeName(err.code)} error`);
  const st = Status.decode(raw);
  check(st.code === err.code, `google.rpc.Status code ${st.code} != grpc-status ${err.code}`);
  // protobufjs's built-in google.protobuf.Any keeps proto field names.
  const typeUrl = (d) => d.type_url ?? d.typeUrl;
  const any = st.details.find((d) => typeUrl(d) === "type.googleapis.com/google.rpc.ErrorInfo");
  check(any, `no ErrorInfo among details [${st.details.map(typeUrl).join(", ")}]`);
  return ErrorInfo.toObject(ErrorInfo.decode(any.value));
}

const ts = (seconds, nanos) => ({ seconds: String(seconds), nanos });

/** Checks the documented sample, field by field, with the wire types. */
function checkSample(res) {
  const c = res.conversation;
  check(c, "response has no conversation");
  checkEqual("id", c.id, CONV);
  checkEqual("botId", c.botId, STREAM);
  checkEqual("status", c.status, "CLOSED");
  // google.protobuf.Timestamp / Duration arrive as messages, not strings.
  checkEqual("startTime (Timestamp)", c.startTime, ts(1684731305, 351000000));
  checkEqual("endTime (Timestamp)", c.endTime, ts(1684733354, 86000000));
  checkEqual("timestampValue (Timestamp from epoch ms)", c.timestampValue, ts(1684731305, 351000000));
  checkEqual("acceptedAt (Timestamp)", c.acceptedAt, ts(1684731307, 718000000));
  checkEqual("waitTime (Duration)", c.waitTime, { seconds: "3", nanos: 369000000 });
  // int32 is a JS number; optional bools are present even when false.
  check(c.priority === 5, `priority: got ${JSON.stringify(c.priority)} (${typeof c.priority}), want number 5`);
  check(c.surveyRequired === true, `surveyRequired: got ${JSON.stringify(c.surveyRequired)}, want true ("YES" upstream)`);
  check(c.callbackOpted === false, `callbackOpted: got ${JSON.stringify(c.callbackOpted)}, want false (set)`);
  check(c.isDeveloper === false, `isDeveloper: got ${JSON.stringify(c.isDeveloper)}, want false (set)`);
  check(c.isProactiveAgentAssistEnabled === true, "isProactiveAgentAssistEnabled: want true");
  checkEqual("_surveyRequired (presence oneof)", c._surveyRequired, "surveyRequired");
  check(c.v === 0 || c.v === "0", `v: got ${JSON.stringify(c.v)}, want 0`);
  // repeated google.protobuf.Value: empty upstream arrays are empty lists.
  for (const k of ["contactFlow", "formData", "skills", "notes"]) {
    check(Array.isArray(c[k]) && c[k].length === 0, `${k}: got ${JSON.stringify(c[k])}, want []`);
  }
  checkEqual("participants.length", c.participants?.length, 1);
  const p = c.participants[0];
  checkEqual("participant name", p.name, "John Doe");
  checkEqual("participant startTimeStamp", p.startTimeStamp, ts(1684731307, 718000000));
  checkEqual("participant endTimeStamp", p.endTimeStamp, ts(1684733354, 43000000));
  check(p.isTransferred === false && p.onInterrupt === true, "participant isTransferred/onInterrupt");
  const t = c.transferDetails?.[0];
  check(t, "no transferDetails");
  checkEqual("transfer priority", t.priority, "HIGHEST");
  checkEqual("transfer target", t.transferredTo, [
    { id: "qu-241a4d7-e5d0-45a9-8032-8238450501c2", name: "Default Queue", type: "QUEUE" },
  ]);
  checkEqual("transferredAt", t.transferredAt, ts(1684733354, 7000000));
  checkEqual("queues", c.queues.map((q) => [q.type, q.status, q.name]), [
    ["ASSIGNED", "INACTIVE", "Default Queue"],
    ["TRANSFERRED", "ACTIVE", "Default Queue"],
  ]);
  checkEqual("page timespent (fractional ms kept)", c.agentDesktopMeta.pagesVisited[0].timespent, {
    seconds: "350",
    nanos: 312351000,
  });
  checkEqual("dispositions.status", c.dispositions.status, "DROP-OFF");
  checkEqual("dispositions.metaStatus", c.dispositions.metaStatus, "SYSTEM_DROP_OFF");
  check(!c.dispositions.dispositionSets?.length, "dispositionSets: null upstream must be empty");
  checkEqual("userInfo.country", c.userInfo.country, "India");
  checkEqual("userInfo.workinghours.workdays", c.userInfo.workinghours.workdays, "mon,tue,wed,thu,fri");
  checkEqual(
    "agentTransferConfig.lastIntentuserInput",
    c.userInfo.agentTransferConfig.lastIntentuserInput,
    "I want to talk to an agent",
  );
  checkEqual("startEvent.isEnabled", c.userInfo.agentTransferConfig.assistEvents.startEvent.isEnabled, true);
}

function list(c, req, { deadlineMs = 10_000, metadata = new grpc.Metadata() } = {}) {
  return new Promise((resolve, reject) => {
    c.listConversations(req, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function listErr(c, req) {
  try {
    await list(c, req);
  } catch (err) {
    return err;
  }
  throw new Error(`ListConversations ${JSON.stringify(req).slice(0, 200)} succeeded, want an error`);
}

/**
 * Watches a conversation. Resolves when the stream ends, or after max
 * messages (then cancels it): { messages, code, details, cancelled }.
 */
function watch(c, req, { max = Infinity, deadlineMs = 30_000 } = {}) {
  return new Promise((resolve) => {
    const messages = [];
    let cancelled = false;
    const call = c.watchConversation(req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs });
    call.on("data", (m) => {
      messages.push(m);
      if (messages.length >= max && !cancelled) {
        cancelled = true;
        call.cancel();
      }
    });
    // grpc-js ends every call with exactly one "status"; "end" or "error"
    // may come before or after it.
    call.on("error", () => {});
    call.on("status", (st) => resolve({ messages, code: st.code, details: st.details, cancelled }));
  });
}

/** The fields of a proto-loader object that are set (oneof markers and empty lists aside). */
function present(o) {
  return Object.keys(o ?? {})
    .filter((k) => !k.startsWith("_") && o[k] !== undefined && o[k] !== null && !(Array.isArray(o[k]) && o[k].length === 0))
    .sort();
}

/** Swaps one character in the middle of a token for another of its alphabet. */
function tamper(token) {
  const i = Math.floor(token.length / 2);
  const ch = token[i] === "A" ? "B" : "A";
  return token.slice(0, i) + ch + token.slice(i + 1);
}

function listCases(demo) {
  const first = { streamId: STREAM, pageSize: 10 };
  return [
    {
      name: `${prefix}: ListConversations pages: first, next by token, last with an empty next_page_token`,
      fn: async () => {
        const seen = [];
        let req = first;
        const sizes = [];
        for (let page = 1; ; page++) {
          check(page <= 5, "more than 5 pages of 10 for 30 conversations");
          const res = await list(demo, req);
          checkEqual(`page ${page} total_size`, res.totalSize, DEMO_TOTAL);
          sizes.push(res.conversations.length);
          seen.push(...res.conversations.map((x) => x.id));
          if (!res.nextPageToken) break;
          check(res.conversations.length > 0, `page ${page} is empty but has a next page`);
          req = { ...first, pageToken: res.nextPageToken };
        }
        checkEqual("page sizes", sizes, [10, 10, 10]);
        checkEqual("distinct ids", new Set(seen).size, DEMO_TOTAL);
        check(seen.includes(CONV) && seen.includes(LIVE), `the sample or ${LIVE} is not listed`);
      },
    },
    {
      name: `${prefix}: ListConversations page_size 0 is the default 20, 1000 is coerced to 100, -1 is INVALID_ARGUMENT`,
      fn: async () => {
        const def = await list(demo, { streamId: STREAM });
        checkEqual("page_size 0 rows", def.conversations.length, 20);
        check(def.nextPageToken, "page_size 0: no next page of 30");
        const big = await list(demo, { streamId: STREAM, pageSize: 1000 });
        checkEqual("page_size 1000 rows", big.conversations.length, DEMO_TOTAL);
        checkEqual("page_size 1000 next_page_token", big.nextPageToken ?? "", "");
        const err = await listErr(demo, { streamId: STREAM, pageSize: -1 });
        checkEqual("page_size -1", codeName(err.code), "INVALID_ARGUMENT");
      },
    },
    {
      name: `${prefix}: ListConversations tampered page token, or a token with other filters, is INVALID_ARGUMENT`,
      fn: async () => {
        const res = await list(demo, first);
        check(res.nextPageToken, "no next_page_token on page 1");
        const tampered = await listErr(demo, { ...first, pageToken: tamper(res.nextPageToken) });
        checkEqual("tampered token", codeName(tampered.code), "INVALID_ARGUMENT");
        checkEqual("tampered token ErrorInfo.domain", errorInfo(tampered).domain, "smartassist-bridge");
        const other = await listErr(demo, { ...first, pageToken: res.nextPageToken, statuses: ["CLOSED"] });
        checkEqual("token with other filters", codeName(other.code), "INVALID_ARGUMENT");
        const garbage = await listErr(demo, { ...first, pageToken: "not a token" });
        checkEqual("garbage token", codeName(garbage.code), "INVALID_ARGUMENT");
      },
    },
    {
      name: `${prefix}: ListConversations statuses filter returns only those states; an unknown state is INVALID_ARGUMENT`,
      fn: async () => {
        const res = await list(demo, { streamId: STREAM, pageSize: 100, statuses: ["CLOSED", "OPEN"] });
        check(res.conversations.length > 0, "no CLOSED or OPEN conversation");
        const states = new Set(res.conversations.map((x) => x.status));
        check([...states].every((x) => x === "CLOSED" || x === "OPEN"), `states ${[...states]}`);
        check(res.totalSize === res.conversations.length && res.totalSize < DEMO_TOTAL, `total_size ${res.totalSize}`);
        const err = await listErr(demo, { streamId: STREAM, statuses: ["CLOSED", "NOPE"] });
        checkEqual("unknown status", codeName(err.code), "INVALID_ARGUMENT");
      },
    },
    {
      name: `${prefix}: read_mask on GetConversation and ListConversations keeps only the named fields`,
      fn: async () => {
        const got = await call(demo, { streamId: STREAM, conversationId: CONV, readMask: { paths: ["status", "user_info.country"] } });
        checkEqual("Get fields", present(got.conversation), ["status", "userInfo"]);
        checkEqual("Get userInfo fields", present(got.conversation.userInfo), ["country"]);
        checkEqual("Get status", got.conversation.status, "CLOSED");
        checkEqual("Get userInfo.country", got.conversation.userInfo.country, "India");
        checkSample(await call(demo, { streamId: STREAM, conversationId: CONV, readMask: { paths: ["*"] } }));
        const listed = await list(demo, { streamId: STREAM, pageSize: 5, readMask: { paths: ["id", "status"] } });
        checkEqual("List rows", listed.conversations.length, 5);
        for (const x of listed.conversations) checkEqual(`List fields of ${x.id}`, present(x), ["id", "status"]);
      },
    },
    {
      name: `${prefix}: read_mask with an unknown path is INVALID_ARGUMENT (Get and List)`,
      fn: async () => {
        const err = await callErr(demo, { streamId: STREAM, conversationId: CONV, readMask: { paths: ["status", "no_such_field"] } });
        checkEqual("Get", codeName(err.code), "INVALID_ARGUMENT");
        checkEqual("Get ErrorInfo.domain", errorInfo(err).domain, "smartassist-bridge");
        const lerr = await listErr(demo, { streamId: STREAM, readMask: { paths: ["user_info.nope"] } });
        checkEqual("List", codeName(lerr.code), "INVALID_ARGUMENT");
      },
    },
    {
      name: `${prefix}: WatchConversation of the closed sample sends exactly 1 message, then OK`,
      fn: async () => {
        const w = await watch(demo, { streamId: STREAM, conversationId: CONV }, { deadlineMs: 15_000 });
        checkEqual("status", codeName(w.code), "OK");
        checkEqual("messages", w.messages.length, 1);
        checkSample(w.messages[0]);
      },
    },
    {
      name: `${prefix}: WatchConversation of an unknown conversation ends NOT_FOUND without a message`,
      fn: async () => {
        const w = await watch(demo, { streamId: STREAM, conversationId: "c-does-not-exist" }, { deadlineMs: 15_000 });
        checkEqual("status", codeName(w.code), "NOT_FOUND");
        checkEqual("messages", w.messages.length, 0);
      },
    },
  ];
}

/** Watches the live conversation until it has changed once (2 messages). */
function liveCase(demo) {
  return {
    name: `${prefix}: WatchConversation of ${LIVE} streams its state, then a change (2 messages), and cancels`,
    timeoutMs: 90_000,
    fn: async () => {
      // It changes every 5 s and is CLOSED from 60 s to 90 s of each 90 s
      // cycle; found closed, wait for the next cycle.
      const deadline = Date.now() + 80_000;
      let w;
      for (;;) {
        w = await watch(demo, { streamId: STREAM, conversationId: LIVE }, { max: 2, deadlineMs: 30_000 });
        if (w.messages.length >= 2 || codeName(w.code) !== "OK" || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      check(w.messages.length >= 2, `${w.messages.length} messages, then ${codeName(w.code)} ${w.details}`);
      check(w.cancelled && codeName(w.code) === "CANCELLED", `ended ${codeName(w.code)} ${w.details}, want our cancel`);
      const [a, b] = w.messages.map((m) => m.conversation);
      checkEqual("ids", [a.id, b.id], [LIVE, LIVE]);
      check(JSON.stringify(a) !== JSON.stringify(b), "the second message repeats the first");
      check(Number(b.v) > Number(a.v), `revision did not advance: v ${a.v} then ${b.v}`);
    },
  };
}

async function upstreamRequests(upstream) {
  const r = await fetch(`${upstream}/_e2e/requests`);
  return r.json();
}

const demoTarget = f.demo;
const demo = client(demoTarget);
const cases = suite === "live" ? [liveCase(demo)] : [
  {
    name: `${prefix}: GetConversation returns the sample with proto types`,
    fn: async () => checkSample(await call(demo, { streamId: STREAM, conversationId: CONV })),
  },
  {
    name: `${prefix}: unknown conversation is NOT_FOUND with ErrorInfo`,
    fn: async () => {
      const err = await callErr(demo, { streamId: STREAM, conversationId: "c-does-not-exist" });
      checkEqual("code", codeName(err.code), "NOT_FOUND");
      const info = errorInfo(err);
      checkEqual("ErrorInfo.domain", info.domain, "smartassist-bridge");
      checkEqual("ErrorInfo.reason", info.reason, "CONVERSATION_NOT_FOUND");
    },
  },
  {
    name: `${prefix}: invalid id is INVALID_ARGUMENT with ErrorInfo`,
    fn: async () => {
      const err = await callErr(demo, { streamId: STREAM, conversationId: "../etc/passwd" });
      checkEqual("code", codeName(err.code), "INVALID_ARGUMENT");
      const info = errorInfo(err);
      checkEqual("ErrorInfo.domain", info.domain, "smartassist-bridge");
      checkEqual("ErrorInfo.reason", info.reason, "INVALID_ARGUMENT");
    },
  },
];
if (suite !== "live") cases.push(...listCases(demo));

if (suite === "direct") {
  const fake = client(f.fake);
  const upstream = f.upstream;
  const auth = () => {
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer e2e-caller-jwt");
    return md;
  };
  cases.push(
    {
      name: `${prefix}: caller JWT and account id are forwarded upstream`,
      fn: async () => {
        await fetch(`${upstream}/_e2e/reset`, { method: "POST" });
        checkSample(
          await call(fake, { streamId: STREAM, conversationId: CONV, accountId: "e2e-account-1" }, { metadata: auth() }),
        );
        const seen = await upstreamRequests(upstream);
        checkEqual("upstream requests", seen.length, 1);
        checkEqual("upstream auth header", seen[0].auth, "e2e-caller-jwt");
        checkEqual("upstream accountId header", seen[0].accountId, "e2e-account-1");
      },
    },
    {
      name: `${prefix}: repeated google.protobuf.Value decodes every JSON kind; notes are typed`,
      fn: async () => {
        const res = await call(fake, { streamId: STREAM, conversationId: "c-e2e-values" }, { metadata: auth() });
        const cf = res.conversation.contactFlow;
        checkEqual("contactFlow kinds", cf.map((v) => v.kind), [
          "structValue",
          "stringValue",
          "numberValue",
          "boolValue",
          "listValue",
        ]);
        checkEqual("contactFlow[0].node", cf[0].structValue.fields.node, { stringValue: "welcome", kind: "stringValue" });
        checkEqual("contactFlow[0].visits", cf[0].structValue.fields.visits.numberValue, 2);
        checkEqual("contactFlow[1]", cf[1].stringValue, "IVR Menu");
        checkEqual("contactFlow[2]", cf[2].numberValue, 42.5);
        checkEqual("contactFlow[3]", cf[3].boolValue, false);
        checkEqual("contactFlow[4]", cf[4].listValue.values.map((v) => v[v.kind]), ["nested", 1]);
        const note = res.conversation.agentNotes?.[0];
        check(note, `no agentNotes: ${JSON.stringify(res.conversation.agentNotes)}`);
        checkEqual("agentNotes[0].note", note.note, "Customer asked for a callback");
        checkEqual("agentNotes[0].author", [note.author?.firstName, note.author?.lastName], ["John", "Doe"]);
        checkEqual("agentNotes[0].timestamp", note.timestamp, ts(1684731662, 3000000));
        checkEqual("agentNotes[0].unmapped.pinned", note.unmapped?.fields?.pinned?.boolValue, true);
        checkEqual("notes (deprecated, never filled)", res.conversation.notes, []);
      },
    },
    {
      name: `${prefix}: unknown conversation upstream is NOT_FOUND with httpStatus 404`,
      fn: async () => {
        const err = await callErr(fake, { streamId: STREAM, conversationId: "c-nobody-knows" }, { metadata: auth() });
        checkEqual("code", codeName(err.code), "NOT_FOUND");
        const info = errorInfo(err);
        checkEqual("ErrorInfo.reason", info.reason, "CONVERSATION_NOT_FOUND");
        checkEqual("ErrorInfo.metadata.httpStatus", info.metadata?.httpStatus, "404");
      },
    },
    {
      name: `${prefix}: invalid id never reaches the upstream`,
      fn: async () => {
        await fetch(`${upstream}/_e2e/reset`, { method: "POST" });
        for (const [s, c] of [
          [STREAM, "c-3c04346 e522"],
          [STREAM, "x".repeat(129)],
          ["", CONV],
          [STREAM, "c-%2e%2e"],
        ]) {
          const err = await callErr(fake, { streamId: s, conversationId: c }, { metadata: auth() });
          checkEqual(`code for ${JSON.stringify([s.slice(0, 20), c.slice(0, 20)])}`, codeName(err.code), "INVALID_ARGUMENT");
        }
        checkEqual("upstream requests after invalid ids", (await upstreamRequests(upstream)).length, 0);
      },
    },
    {
      name: `${prefix}: short deadline against a slow upstream is DEADLINE_EXCEEDED`,
      fn: async () => {
        await fetch(`${upstream}/_e2e/reset`, { method: "POST" });
        const start = Date.now();
        const err = await callErr(
          fake,
          { streamId: STREAM, conversationId: "c-e2e-slow" },
          { deadlineMs: 500, metadata: auth() },
        );
        const took = Date.now() - start;
        checkEqual("code", codeName(err.code), "DEADLINE_EXCEEDED");
        check(took < 2500, `took ${took} ms for a 500 ms deadline`);
      },
    },
    {
      name: `${prefix}: the deadline cancels the upstream request`,
      fn: async () => {
        // The slow upstream answers after 5 s; the bridge must hang up on it
        // once the caller's 500 ms deadline (grpc-timeout) has passed.
        const until = Date.now() + 3000;
        let rec;
        while (Date.now() < until) {
          rec = (await upstreamRequests(upstream)).find((r) => r.conversationId === "c-e2e-slow");
          if (rec?.abortedAt) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        check(rec, "the slow request never reached the upstream");
        check(rec.answeredAt === null, "upstream answered: the bridge waited for the slow upstream");
        check(rec.abortedAt, "upstream request still open 3 s after the deadline");
        const after = rec.abortedAt - rec.receivedAt;
        check(after < 2000, `upstream request closed ${after} ms after it began, want < 2000`);
      },
    },
  );
}

await runCases(cases);
demo.close();
