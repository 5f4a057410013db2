package demo

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ListAnswer is an answer of SmartAssist's "List of Conversations" endpoint
// built from its documentation's sample: three of the sample's results
// (a voice call, a chat with a note, a chat dropped off with "priority":
// null) verbatim, with the paging keys adjusted to three results. It is
// the template the demo's list is generated from, and a recorded answer for
// other packages' tests.
//
//go:embed testdata/list.json
var ListAnswer []byte

// The list's shape.
const (
	// ConversationCount is how many conversations the demo stream lists:
	// the documented sample (ConversationID), the live conversation
	// (LiveConversationID), and generated ones.
	ConversationCount = 30
	// DefaultListLimit is the page size of a list request without a limit;
	// the documented sample answers with "limit": 10.
	DefaultListLimit = 10
)

// Statuses are the values of the list endpoint's status filter, as its
// documentation enumerates them.
var Statuses = []string{"ACTIVE", "CLOSED", "IDLE", "OPEN", "OVERDUE", "TERMINATED"}

// record is one conversation the demo serves as it stands.
type record struct {
	id    string
	doc   map[string]any
	body  []byte    // the answer of the GET-one endpoint
	start time.Time // the list's sort key
}

// timeLayout is how SmartAssist writes instants: UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// decode reads JSON keeping number literals as they are written.
func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// templates returns the results of ListAnswer, each as its own JSON text
// so that every use decodes a fresh copy.
var templates = sync.OnceValue(func() []json.RawMessage {
	var answer struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(ListAnswer, &answer); err != nil || len(answer.Results) != 3 {
		panic(fmt.Sprintf("demo: testdata/list.json must hold three results: %v", err))
	}
	return answer.Results
})

// template returns a fresh copy of result i of ListAnswer, with every
// instant in it moved so that its "startTime" is start.
func template(i int, start time.Time) map[string]any {
	var doc map[string]any
	if err := decode(templates()[i], &doc); err != nil {
		panic(err)
	}
	from, err := time.Parse(time.RFC3339Nano, doc["startTime"].(string))
	if err != nil {
		panic(err)
	}
	shift(doc, start.Sub(from))
	return doc
}

// shift moves every instant in v by d: ISO-8601 strings and the epoch
// milliseconds of "timestampValue".
func shift(v any, d time.Duration) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch e := e.(type) {
			case string:
				if t, err := time.Parse(time.RFC3339Nano, e); err == nil {
					v[k] = t.Add(d).UTC().Format(timeLayout)
				}
			case json.Number:
				if k == "timestampValue" {
					if ms, err := e.Int64(); err == nil {
						v[k] = json.Number(strconv.FormatInt(ms+d.Milliseconds(), 10))
					}
				}
			default:
				shift(e, d)
			}
		}
	case []any:
		for _, e := range v {
			shift(e, d)
		}
	}
}

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// The vocabularies the generated conversations cycle through.
var (
	voiceSources = []string{"audiocodes", "voice"}
	chatSources  = []string{"rtm", "msteams", "whatsapp", "email"}
	languages    = []string{"en", "es", "de", "fr", "ja"}
	tones        = []map[string]any{
		{"sentiment": "fear", "emoji": "😨", "strength": json.Number("2")},
		{"sentiment": "anger", "emoji": "😠", "strength": json.Number("3")},
		{"sentiment": "joy", "emoji": "😊", "strength": json.Number("1")},
		{"sentiment": "neutral", "emoji": "😐", "strength": json.Number("0")},
	}
)

// generatedEpoch is the start of the newest generated conversation; the
// others start 47 minutes apart before it.
var generatedEpoch = time.Date(2023, 5, 25, 7, 0, 0, 0, time.UTC)

// staticRecords returns the conversations that never change: the
// documented sample and the generated ones, newest first.
var staticRecords = sync.OnceValue(func() []record {
	var sample map[string]any
	if err := decode(Conversation, &sample); err != nil {
		panic(err)
	}
	sampleStart, _ := time.Parse(time.RFC3339Nano, sample["startTime"].(string))
	records := []record{{id: ConversationID, doc: sample, body: Conversation, start: sampleStart}}
	// A fixed seed: the demo answers the same on every run and replica.
	r := rand.New(rand.NewPCG(11, 2023))
	for i := range ConversationCount - 2 {
		records = append(records, generate(i, r))
	}
	slices.SortStableFunc(records, func(a, b record) int { return b.start.Compare(a.start) })
	return records
})

// generate makes the i-th generated conversation from a template, varying
// ids, times, status, channel, language, priority, sentiment and notes.
func generate(i int, r *rand.Rand) record {
	start := generatedEpoch.Add(-time.Duration(i) * 47 * time.Minute)
	voice := i%3 == 0
	doc := template(i%3, start)
	id := fmt.Sprintf("c-%07x-%04x-%04x-%04x-%012x", r.Uint32()>>4, r.Uint32()>>16, r.Uint32()>>16, r.Uint32()>>16, r.Uint64()>>16)
	// Offset per template, so that voice and chat each take every status.
	status := Statuses[(i/3+i%3*2)%len(Statuses)]

	doc["_id"] = id
	doc["botId"] = StreamID
	doc["accountId"] = sampleAccountID
	doc["status"] = status
	doc["language"] = languages[i%len(languages)]
	if voice {
		doc["source"] = voiceSources[(i/3)%len(voiceSources)]
		phone := fmt.Sprintf("+1844%07d", r.IntN(10_000_000))
		doc["phoneNumber"] = phone
		doc["conversationId"] = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()>>16, r.Uint32()>>20, r.Uint32()>>20, r.Uint64()>>16)
		doc["CallIDData"] = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		if ui, ok := doc["userInfo"].(map[string]any); ok {
			ui["caller"] = phone
			ui["callee"] = StreamID
		}
	} else {
		source := chatSources[(i/3)%len(chatSources)]
		doc["source"] = source
		if source == "email" {
			doc["conversationType"] = "email"
		}
	}
	if i%7 == 3 {
		doc["priority"] = nil
	} else {
		doc["priority"] = json.Number(strconv.Itoa(1 + i%10))
	}
	if i%4 == 1 {
		delete(doc, "sentimentTone")
	} else {
		doc["sentimentTone"] = tones[i%len(tones)]
	}
	if notes, ok := doc["notes"].([]any); ok {
		if i%5 == 4 {
			doc["notes"] = []any{}
		}
		for _, n := range notes {
			if n, ok := n.(map[string]any); ok {
				n["conversationId"] = id
				n["_id"] = fmt.Sprintf("%024x", r.Uint64())
			}
		}
	}
	switch status {
	case "OPEN":
		// Still waiting in the queue: no agent yet.
		doc["participants"] = []any{}
		delete(doc, "acceptedAt")
		fallthrough
	case "ACTIVE", "IDLE", "OVERDUE":
		delete(doc, "endTime")
		delete(doc, "dispositions")
	case "TERMINATED":
		doc["dispositions"] = map[string]any{
			"status":          "DROP-OFF",
			"remarks":         "The customer left before an agent answered.",
			"dispositionSets": nil,
			"metaStatus":      "SYSTEM_DROP_OFF",
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return record{id: id, doc: doc, body: body, start: start}
}

// sampleAccountID is the account of the documented sample conversation.
const sampleAccountID = "637368b4a1d039e34ba63bbf"

// ListPage is the list endpoint's answer, in the shape of SmartAssist's
// documented sample. The fakes of SmartAssist in tests and benchmarks
// answer with it too.
type ListPage struct {
	Results      []json.RawMessage `json:"results"`
	Skip         int               `json:"skip"`
	Limit        int               `json:"limit"`
	HasMore      bool              `json:"hasMore"`
	TotalPages   int               `json:"totalPages"`
	TotalResults int               `json:"totalResults"`
}

// NewListPage is the page of matched that skip and limit (positive)
// select, with the totals SmartAssist reports beside it.
func NewListPage(matched []json.RawMessage, skip, limit int) ListPage {
	page := ListPage{
		Results:      []json.RawMessage{},
		Skip:         skip,
		Limit:        limit,
		TotalResults: len(matched),
		TotalPages:   (len(matched) + limit - 1) / limit,
	}
	if skip < len(matched) {
		end := min(len(matched), skip+limit)
		page.Results = matched[skip:end]
		page.HasMore = end < len(matched)
	}
	return page
}

func badRequest(w http.ResponseWriter, msg string) {
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]string{"msg": msg, "code": "400"}}})
	_, _ = w.Write(b)
}

// values returns every value of a query parameter, repeated or
// comma-separated, without blanks.
func values(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// count reads a non-negative integer parameter, def when absent or 0.
func count(q url.Values, key string, def int) (int, bool) {
	s := q.Get(key)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	if n == 0 {
		return def, true
	}
	return n, true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if !admit(w, r, streamNotFound) {
		return
	}
	q := r.URL.Query()
	skip, ok := count(q, "skip", 0)
	if !ok {
		badRequest(w, "skip must be a non-negative integer")
		return
	}
	limit, ok := count(q, "limit", DefaultListLimit)
	if !ok {
		badRequest(w, "limit must be a non-negative integer")
		return
	}
	statuses := values(q, "status")
	for _, s := range statuses {
		if !slices.Contains(Statuses, s) {
			badRequest(w, "status must be one of "+strings.Join(Statuses, ", "))
			return
		}
	}
	source, language := q.Get("source"), q.Get("language")
	fields := values(q, "fields")

	var matched []record
	var bodies []json.RawMessage
	for _, rec := range h.records() {
		if len(statuses) > 0 && !slices.Contains(statuses, str(rec.doc["status"])) ||
			source != "" && str(rec.doc["source"]) != source ||
			language != "" && str(rec.doc["language"]) != language {
			continue
		}
		matched = append(matched, rec)
		bodies = append(bodies, rec.body)
	}
	answer := NewListPage(bodies, skip, limit)
	if len(fields) > 0 {
		projected := make([]json.RawMessage, len(answer.Results))
		for i := range projected {
			var err error
			if projected[i], err = json.Marshal(Project(matched[skip+i].doc, fields)); err != nil {
				panic(err)
			}
		}
		answer.Results = projected
	}
	b, err := json.Marshal(answer)
	if err != nil {
		panic(err)
	}
	_, _ = w.Write(b)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Project keeps the keys of doc that paths name, as top-level keys or
// dotted paths into objects; "_id" is always kept, as in a MongoDB
// projection. It is how the list endpoint reads `fields`, for this demo
// and for the test fake in smartassisttest.
func Project(doc map[string]any, paths []string) map[string]any {
	paths = append([]string{"_id"}, paths...)
	out := map[string]any{}
	for _, p := range paths {
		// A path inside another one asked for is already there.
		if slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(p, q+".") }) {
			continue
		}
		copyPath(doc, out, strings.Split(p, "."))
	}
	return out
}

func copyPath(src, dst map[string]any, parts []string) {
	v, ok := src[parts[0]]
	if !ok {
		return
	}
	if len(parts) == 1 {
		dst[parts[0]] = v
		return
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return
	}
	d, ok := dst[parts[0]].(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	copyPath(sub, d, parts[1:])
	if len(d) > 0 {
		dst[parts[0]] = d
	}
}
