package bridge

import (
	"log/slog"
	"net/http"

	"github.com/smartassist-bridge/smartassist-bridge/service/health"
)

// NewWithHandler returns a Bridge serving h instead of the RPCs, so that
// tests can hold Serve's bounds against handlers the service does not
// have yet (a huge response, a never-ending stream).
func NewWithHandler(h http.Handler) *Bridge {
	return &Bridge{handler: h, health: health.New(), log: slog.New(slog.DiscardHandler)}
}
