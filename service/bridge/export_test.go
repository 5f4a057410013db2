package bridge

import (
	"log/slog"
	"net/http"

	"github.com/smartassist-bridge/smartassist-bridge/service/health"
)

// NewWithHandler returns a Bridge serving h instead of the RPCs, so that
// tests can hold Serve's bounds against handlers the service does not
// have (a huge response, a never-ending stream). Serve bounds the paths
// in streaming as streams, every other one as a unary call.
func NewWithHandler(h http.Handler, streaming ...string) *Bridge {
	b := &Bridge{handler: h, health: health.New(), log: slog.New(slog.DiscardHandler), streaming: map[string]bool{}}
	for _, path := range streaming {
		b.streaming[path] = true
	}
	return b
}
