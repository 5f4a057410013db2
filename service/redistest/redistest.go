// Package redistest starts a real redis-server for tests: on a free
// loopback port, with persistence off, stopped when the test ends.
//
// Replica and failure behaviour is proven against the real server, so
// tests that need Redis call Start rather than use an in-process fake.
// When redis-server is not installed the test fails (it does not skip):
// .ci/run installs it, and a silently skipped suite would prove nothing.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a running redis-server.
type Server struct {
	// Addr is host:port, e.g. "127.0.0.1:41234".
	Addr string
	// URL is Addr as a redis:// URL, the form --redis-url takes.
	URL string

	cmd  *exec.Cmd
	port int
}

// Start starts redis-server on a free port and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatalf("redistest: %v (is the redis-server package installed? .ci/run installs it)", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func start() (*Server, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.URL = "redis://" + s.Addr
	if err := s.run(path); err != nil {
		return nil, err
	}
	return s, nil
}

// run starts the process on s.port and waits until it answers PING.
func (s *Server) run(path string) error {
	s.cmd = exec.Command(path, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on %s did not answer PING within 10s: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would: no graceful shutdown) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a fresh, empty server on the same port after Stop, as a
// restarted Redis would come back.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(path); err != nil {
		t.Fatalf("redistest: restart: %v", err)
	}
}

// Client returns a go-redis client for the server, closed when t ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before redis-server binds; on loopback in a test run that is rare
// enough, and the failure is loud.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
