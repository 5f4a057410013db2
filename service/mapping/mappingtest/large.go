package mappingtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// LargeConversation returns a conversation document in SmartAssist's JSON of
// at least targetBytes bytes, the same for the same targetBytes. It has the
// shape of the documented sample response and grows by whole rounds of
// participants, transfer details (with their targets), queues, visited pages
// (with fractional milliseconds) and identities, with keys the proto does not
// model at several levels, so that a benchmark or test exercises every path
// of a mapper, not just one long array.
func LargeConversation(targetBytes int) []byte {
	g := &generator{rng: splitMix64(0x5eed_c0ffee)}
	doc := g.base()
	size := len(marshal(doc))

	participants := doc["participants"].([]any)
	transfers := doc["transferDetails"].([]any)
	queues := doc["queues"].([]any)
	userInfo := doc["userInfo"].(map[string]any)
	identities := userInfo["identities"].([]any)
	meta := doc["agentDesktopMeta"].(map[string]any)
	pages := meta["pagesVisited"].([]any)

	// Every array starts non-empty, so appending an element grows the
	// compact encoding by exactly its own encoding plus one comma; the size
	// is tracked without re-encoding the whole document each round.
	grow := func(arr []any, elem any) []any {
		size += len(marshal(elem)) + 1
		return append(arr, elem)
	}
	for round := 1; size < targetBytes; round++ {
		participants = grow(participants, g.participant(round))
		transfers = grow(transfers, g.transfer(round))
		queues = grow(queues, g.queue(round))
		pages = grow(pages, g.page(round))
		identities = grow(identities, g.identity(round))
	}
	// The conversation ends after its last round. The new instants have the
	// same length as the ones they replace, so the size stays exact.
	end := epoch.Add(time.Duration(len(participants)) * roundLength)
	doc["endTime"] = stamp(end)
	doc["updatedAt"] = stamp(end.Add(9981 * time.Millisecond))
	doc["participants"] = participants
	doc["transferDetails"] = transfers
	doc["queues"] = queues
	userInfo["identities"] = identities
	meta["pagesVisited"] = pages
	return marshal(doc)
}

// marshal encodes compactly without HTML escaping, so names like "Q&A" read
// as SmartAssist sends them.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only the generator's own maps, slices, strings, bools and
		// json.Number literals reach here.
		panic(fmt.Sprintf("mappingtest: encoding generated conversation: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// splitMix64 is a tiny PRNG with a fixed algorithm, so the generated document
// does not change when math/rand's streams do between Go releases.
type splitMix64 uint64

func (s *splitMix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *splitMix64) intn(n int) int { return int(s.next() % uint64(n)) }

type generator struct {
	rng    splitMix64
	queues []string // queue ids, reused so transfers point at known queues
}

// Names and page titles mix scripts on purpose: a mapper must carry
// multi-byte UTF-8, combining marks, right-to-left text and emoji unchanged.
var (
	agentNames = []string{
		"John Doe", "Zoë Saldaña", "李小龙", "محمد الأحمد", "Ольга Петрова",
		"José Núñez", "Søren Ødegård", "Ngozi Okonkwo", "प्रिया शर्मा", "김민준",
		"Ayşe Yılmaz", "שירה כהן", "Nguyễn Văn An", "佐藤 花子 🌸", "Siobhán Ó Briain",
	}
	queueNames = []string{
		"Default Queue", "Billing – Tier 2", "Soporte Técnico", "サポート窓口", "VIP 💎",
		"Retention & Churn", "الدعم الفني", "Escalations",
	}
	pageTitles = []string{
		"Kore.ai Web Client", "Pricing – Kore.ai", "Checkout · 결제", "Mon compte — Paramètres",
		"ホーム | Support", "الأسئلة الشائعة", "Order #1234 “shipped”", "Résumé 🚀",
	}
	identityTypes = []string{"mapped", "email", "phone"}
	reasons       = []string{"AGENT_TRANSFER", "CUSTOMER_LEFT", "TIMEOUT", "AGENT_CLOSED"}
	priorities    = []string{"HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"}
)

// epoch is the sample response's queue start time; generated instants
// follow it, so every one is a realistic instant after it.
var epoch = time.Date(2023, 5, 22, 4, 55, 5, 350_000_000, time.UTC)

func (g *generator) uuid() string {
	a, b := g.rng.next(), g.rng.next()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (g *generator) hex24() string {
	return fmt.Sprintf("%08x%016x", g.rng.next()>>32, g.rng.next())
}

// roundLength is how far apart rounds are: each round's participant,
// transfer and queue happen within it, so instants increase with the
// arrays' indices as they would in a real conversation.
const roundLength = 37 * time.Second

// at is a random instant within round (rounds count from epoch).
func (g *generator) at(round int) time.Time {
	return epoch.Add(time.Duration(round)*roundLength + time.Duration(g.rng.intn(20_000))*time.Millisecond)
}

// stamp writes an instant in SmartAssist's form: RFC 3339, UTC, milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// later is a random instant after t, by at most within.
func (g *generator) later(t time.Time, within time.Duration) time.Time {
	return t.Add(time.Duration(g.rng.intn(int(within/time.Millisecond))+1) * time.Millisecond)
}

func (g *generator) queueID() string {
	if len(g.queues) == 0 || g.rng.intn(4) == 0 {
		g.queues = append(g.queues, "qu-"+g.uuid())
	}
	return g.queues[g.rng.intn(len(g.queues))]
}

func (g *generator) base() map[string]any {
	queue := g.queueID()
	agent := "u-" + g.uuid()
	user := "u-" + g.uuid()
	bot := "st-" + g.uuid()
	return map[string]any{
		"participants":                  []any{g.participant(0)},
		"transferDetails":               []any{g.transfer(0)},
		"waitTime":                      json.Number("3369"),
		"isProactiveAgentAssistEnabled": true,
		"status":                        "CLOSED",
		"callbackOpted":                 false,
		"contactFlow":                   []any{},
		"surveyRequired":                "YES",
		"isDeveloper":                   false,
		"_id":                           "c-" + g.uuid(),
		"orgId":                         "o-" + g.uuid(),
		"userId":                        user,
		"accountId":                     g.hex24(),
		"botId":                         bot,
		"source":                        "rtm",
		"botSessionId":                  g.hex24(),
		"language":                      "en",
		"keyIntentName":                 "TalkToAgent",
		"keyIntentUserInput":            "I want to talk to an agent",
		"agentDesktopMeta": map[string]any{
			"pagesVisited": []any{g.page(0)},
			// Not modeled: keeps the catch-all of a nested object busy.
			"browser": map[string]any{"name": "Chrome", "version": "124.0.6367.91", "mobile": false},
		},
		"conversationType": "messaging",
		"priority":         json.Number("5"),
		"queues":           []any{g.queue(0)},
		"startTime":        "2023-05-22T04:55:05.351Z",
		"endTime":          "2023-05-22T05:29:14.086Z",
		"formData":         []any{map[string]any{"formId": "fm-" + g.uuid(), "fields": []any{"Order number", json.Number("1234")}}},
		"timestampValue":   json.Number("1684731305351"),
		"createdAt":        "2023-05-22T04:55:05.354Z",
		"updatedAt":        "2023-05-22T05:29:24.067Z",
		"__v":              json.Number("0"),
		"skills":           []any{map[string]any{"id": "sk-" + g.uuid(), "name": "Billing"}},
		"acceptedAt":       "2023-05-22T04:55:07.718Z",
		"notes":            []any{"Customer asked for a refund", map[string]any{"by": agent, "text": "Follow up by e-mail ✉️"}},
		"dispositions": map[string]any{
			"metaStatus":      "SYSTEM_DROP_OFF",
			"status":          "DROP-OFF",
			"remarks":         "I’m sorry. It seems like there are no agents that can help you at this time. Please reach out us a bit later.",
			"dispositionSets": nil,
			"dispositionCode": "DC-17", // not modeled
		},
		"userInfo": map[string]any{
			"workinghours": map[string]any{
				"workdays":  "mon,tue,wed,thu,fri",
				"workstart": "8:00 AM",
				"workend":   "5:00 PM",
				"timezone":  "Asia/Kolkata", // not modeled
			},
			"profImage":        "no-avatar",
			"jTitle":           "",
			"dept":             "",
			"profColour":       "#ff4500",
			"activationStatus": "active",
			"firstName":        "Ana",
			"lastName":         "Núñez-Ødegård",
			"orgId":            "o-" + g.uuid(),
			"_id":              user,
			"identities":       []any{g.identity(0)},
			"agentTransferConfig": map[string]any{
				"skillsIds":      []any{"sk-" + g.uuid()},
				"overrideAgents": false,
				"overrideValues": []any{},
				"assistEvents": map[string]any{
					"startEvent": map[string]any{
						"isEnabled":   true,
						"botId":       bot,
						"dialogId":    "dg-" + g.uuid(),
						"dialogRefId": g.uuid(),
						"runCount":    json.Number("3"), // not modeled
					},
				},
				"automationBotId":     bot,
				"lastIntentName":      "TalkToAgent",
				"lastIntentuserInput": "I want to talk to an agent",
				"dialog_tone":         []any{map[string]any{"tone_name": "angry", "level": json.Number("1.5")}},
			},
			"city":        "Raha Gaon",
			"country":     "India",
			"isp":         "Bharti Airtel Ltd. AS for GPRS Service",
			"ipAddress":   "106.203.156.168",
			"queue":       queue,
			"hostDomain":  "https://bots.kore.ai",
			"os":          "Windows",
			"device":      "NA",
			"locale":      "hi-IN", // not modeled
			"customAttrs": map[string]any{"tier": "gold", "lifetimeValue": json.Number("1234.5"), "optIn": true, "crmId": nil},
		},
		"systemTransferReason": "NO_AGENTS_AVAILABLE",
		"sentimentTone":        map[string]any{"sentiment": "negative", "emoji": "😠", "strength": json.Number("0.82")},
		// Not modeled, at the top: an object, an array, and an integer a
		// float64 cannot hold, which the contract keeps as text.
		"channelMeta":  map[string]any{"widget": "v3", "sdkVersion": "9.3.1", "features": []any{"cobrowse", "fileUpload"}},
		"tags":         []any{"refund", "vip"},
		"sequenceNo":   json.Number("12345678901234567890"),
		"slaBreached":  false,
		"firstReplyMs": json.Number("8123.25"),
	}
}

func (g *generator) participant(round int) map[string]any {
	queued := g.at(round)
	assigned := g.later(queued, 2*time.Second)
	started := g.later(assigned, 3*time.Second)
	ended := g.later(started, roundLength)
	p := map[string]any{
		"queueId":        g.queueID(),
		"queueStartTime": stamp(queued),
		"queueName":      queueNames[g.rng.intn(len(queueNames))],
		"agentId":        "u-" + g.uuid(),
		"name":           agentNames[g.rng.intn(len(agentNames))],
		"status":         []string{"ACTIVE", "INACTIVE"}[g.rng.intn(2)],
		"assignedAt":     stamp(assigned),
		"startTimeStamp": stamp(started),
		"endTimeStamp":   stamp(ended),
		"isTransferred":  g.rng.intn(2) == 0,
		"onInterrupt":    g.rng.intn(2) == 0,
	}
	if round%5 == 0 {
		p["reason"] = reasons[g.rng.intn(len(reasons))]
		p["conversationTransferred"] = g.rng.intn(2) == 0
		p["endedChat"] = g.rng.intn(2) == 0
	}
	if round%7 == 3 {
		// Not modeled, inside an array element.
		p["agentTimezone"] = "Europe/Berlin"
		p["skillsMatched"] = []any{map[string]any{"id": "sk-" + g.uuid(), "level": json.Number(fmt.Sprint(1 + g.rng.intn(5)))}}
		p["sessionSeq"] = json.Number(fmt.Sprint(uint64(1)<<53 + 1 + uint64(round)*2))
	}
	return p
}

func (g *generator) transfer(round int) map[string]any {
	targets := make([]any, 1+g.rng.intn(3))
	for i := range targets {
		if g.rng.intn(3) == 0 {
			targets[i] = map[string]any{"id": "u-" + g.uuid(), "name": agentNames[g.rng.intn(len(agentNames))], "type": "AGENT"}
		} else {
			targets[i] = map[string]any{"id": g.queueID(), "name": queueNames[g.rng.intn(len(queueNames))], "type": "QUEUE"}
		}
	}
	t := map[string]any{
		"fromQueue":       g.queueID(),
		"fromAgent":       "u-" + g.uuid(),
		"transferredType": targets[0].(map[string]any)["type"],
		"transferredTo":   targets,
		"transferredBy":   "u-" + g.uuid(),
		"priority":        priorities[g.rng.intn(len(priorities))],
		"transferredAt":   stamp(g.at(round)),
		"isManager":       g.rng.intn(4) == 0,
	}
	if round%4 == 1 {
		t["comment"] = "Customer prefers Español — escalating"
		t["metrics"] = map[string]any{"holdMs": json.Number(fmt.Sprint(g.rng.intn(90_000))), "ratio": json.Number("0.25"), "flag": nil}
	}
	return t
}

func (g *generator) queue(round int) map[string]any {
	q := map[string]any{
		"type":                           []string{"ASSIGNED", "TRANSFERRED"}[g.rng.intn(2)],
		"status":                         []string{"ACTIVE", "INACTIVE"}[g.rng.intn(2)],
		"isPreferredAgentTimeoutExpired": g.rng.intn(2) == 0,
		"id":                             g.queueID(),
		"name":                           queueNames[g.rng.intn(len(queueNames))],
		"startTime":                      stamp(g.at(round)),
	}
	if round%6 == 2 {
		q["waitMs"] = json.Number(fmt.Sprint(g.rng.intn(600_000))) // not modeled
	}
	return q
}

// page uses SmartAssist's fractional milliseconds; every fourth has six
// decimals, down to the nanosecond a Duration still holds exactly.
func (g *generator) page(round int) map[string]any {
	ms := g.rng.intn(900_000)
	spent := fmt.Sprintf("%d.%03d", ms, g.rng.intn(1000))
	if round%4 == 3 {
		spent = fmt.Sprintf("%d.%06d", ms, g.rng.intn(1_000_000))
	}
	// The customer browsed before asking for an agent: pages precede the
	// conversation by the same rhythm.
	p := map[string]any{
		"page":      pageTitles[g.rng.intn(len(pageTitles))],
		"timestamp": stamp(g.at(round - 400)),
		"timespent": json.Number(spent),
	}
	if round%3 == 2 {
		p["url"] = fmt.Sprintf("https://shop.example.com/p/%d?ref=chat&lang=ja", g.rng.intn(100_000)) // not modeled
	}
	return p
}

func (g *generator) identity(round int) map[string]any {
	typ := identityTypes[round%len(identityTypes)]
	var val string
	switch typ {
	case "email":
		val = fmt.Sprintf("customer%d@example.com", g.rng.intn(1_000_000))
	case "phone":
		val = fmt.Sprintf("+91%010d", g.rng.intn(1_000_000_000))
	default:
		val = "cs-" + g.uuid() + "/" + g.uuid()
	}
	return map[string]any{"val": val, "type": typ}
}
