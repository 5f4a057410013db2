// Command fake is a hostile SmartAssist for e2e/hostile/run (issues 9 and
// 10): it answers "Get a specific Conversation" with bodies that are valid
// JSON and under the bridge's 8 MiB body cap, but cost a naive decoder
// gigabytes.
//
// Usage:
//
//	fake --listen 127.0.0.1:19400 [--size 7864320]
//
// GET /agentassist/api/v1/public/{stream}/conversations/{id} answers, for
// any stream, by id:
//
//	c-zeros    the sample with ~3.9 million 0 in "formData" (--size bytes)
//	c-objects  the sample with ~2.6 million {} in "participants" (--size bytes)
//	c-strings  the sample with ~6,400 "notes" of 1 KiB of text each (--size
//	           bytes): big, but made of realistic values
//	c-sample   the documented sample (service/demo.Conversation), its _id
//	           set to c-sample
//
// and 404 for any other id, 401 without an "auth" header (the bridge passes
// its caller's through). Every body is built once, at start. GET /_sizes
// lists the ids and their body sizes, and is the readiness probe.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/demo"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	size := flag.Int("size", 7864320, "target size of each hostile body, in bytes (7.5 MiB by default)")
	flag.Parse()
	bodies, err := buildBodies(*size)
	if err != nil {
		log.Fatalf("fake: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agentassist/api/v1/public/{stream}/conversations/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("auth") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"msg":"auth header is missing","code":"401"}]}`))
			return
		}
		body, ok := bodies[r.PathValue("id")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"msg":"Conversation not found","code":"404"}]}`))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /_sizes", func(w http.ResponseWriter, _ *http.Request) {
		ids := make([]string, 0, len(bodies))
		for id := range bodies {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(w, "%s %d\n", id, len(bodies[id]))
		}
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "fake: %v\n", err)
		os.Exit(1)
	}
}

// buildBodies returns every answer by conversation id.
func buildBodies(size int) (map[string][]byte, error) {
	sample, err := withKey("c-sample", "", nil)
	if err != nil {
		return nil, err
	}
	bodies := map[string][]byte{"c-sample": sample}
	hostile := []struct {
		id, key string
		item    func(i int) string
	}{
		{"c-zeros", "formData", func(int) string { return "0" }},
		{"c-objects", "participants", func(int) string { return "{}" }},
		{"c-strings", "notes", note},
	}
	for _, h := range hostile {
		// The sample with an empty array, then as many items as fit in size.
		empty, err := withKey(h.id, h.key, []byte("[]"))
		if err != nil {
			return nil, err
		}
		room := size - len(empty)
		var arr bytes.Buffer
		arr.Grow(size)
		arr.WriteByte('[')
		for i := 0; ; i++ {
			it := h.item(i)
			if arr.Len()+1+len(it)+1 > room {
				break
			}
			if i > 0 {
				arr.WriteByte(',')
			}
			arr.WriteString(it)
		}
		arr.WriteByte(']')
		b, err := withKey(h.id, h.key, arr.Bytes())
		if err != nil {
			return nil, err
		}
		bodies[h.id] = b
	}
	return bodies, nil
}

// withKey is the documented sample with _id set to id and, when key is not
// empty, key's value replaced by raw. Keys come out sorted (encoding/json
// sorts map keys); SmartAssist's order carries no meaning.
func withKey(id, key string, raw []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(demo.Conversation, &doc); err != nil {
		return nil, fmt.Errorf("the demo sample: %w", err)
	}
	doc["_id"] = json.RawMessage(strconv.Quote(id))
	if key != "" {
		doc[key] = raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// note is the i-th of many agent notes: SmartAssist's shape, with a text of
// exactly 1 KiB that differs from note to note.
func note(i int) string {
	const words = "customer called about the invoice, agent checked the order history and promised a callback; "
	text := fmt.Sprintf("note %07d: ", i)
	text += strings.Repeat(words, 1024/len(words)+1)
	text = text[:1024]
	return fmt.Sprintf(`{"_id":"%024x","conversationId":"c-strings","author":{"_id":"%024x","firstName":"Ann","lastName":"Lee","userId":"u-b19cd89e-6533-59af-b491-eec9bf8f8b9f"},"note":%q,"timestamp":"2023-05-22T05:29:14.043Z"}`,
		i, i+1<<40, text)
}
