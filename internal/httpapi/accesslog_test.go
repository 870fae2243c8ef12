package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/syncbuf"
)

// slogLine is the line slog's JSON handler writes for e: the shape every
// other log line of the service has, and the reference for the access log.
func slogLine(e *accessEntry) []byte {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, nil)
	r := slog.NewRecord(e.time, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("request_id", e.requestID),
		slog.String("method", e.method),
		slog.String("route", e.route),
		slog.Int("status", e.status),
		slog.Duration("duration", e.duration),
		slog.String("client_ip", e.clientIP),
	)
	if e.rejection != "" {
		r.AddAttrs(slog.String("token_rejection", e.rejection))
	}
	if e.err != "" {
		r.AddAttrs(slog.String("error", e.err))
	}
	_ = h.Handle(context.Background(), r)
	return buf.Bytes()
}

// checkLine fails unless line is exactly one JSON object on one line that
// says what slog's line for e says.
func checkLine(t *testing.T, e *accessEntry, line []byte) {
	t.Helper()
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("line %q: want exactly one line ending in a newline", line)
	}
	var got, want map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&got); err != nil || dec.More() {
		t.Fatalf("line %q: not one JSON object: %v", line, err)
	}
	if err := json.Unmarshal(slogLine(e), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("access log line\n %s\nsays other things than slog's\n %s", line, slogLine(e))
	}
}

func TestAccessLogLineSaysWhatSlogWould(t *testing.T) {
	at := time.Date(2026, 11, 23, 16, 4, 5, 123456789, time.UTC)
	for _, e := range []accessEntry{
		{time: at, requestID: "0123456789abcdef01234567", method: "GET", route: "/me", status: 200, duration: 1234567, clientIP: "192.0.2.1"},
		{time: at.Add(-time.Nanosecond * 123456789), requestID: "r", method: "POST", route: "/login", status: 401, clientIP: "2001:db8::1", err: "wrong \"password\"\n\tfor\\you"},
		{time: at.In(time.FixedZone("x", 3600)), method: "GET", route: "unmatched", status: 404, rejection: "expired"},
		{time: at, method: "\x00\x1f\x7f", route: "<script>&", err: "bad utf-8: \xff\xfe and \xe2\x28\xa1 and a\u2028line\u2029sep", status: 400},
		{time: at, err: "emoji 🚀 and é and 中文", status: 499, duration: -1},
	} {
		var out []byte
		out = e.appendJSON(out)
		checkLine(t, &e, out)
	}
}

// FuzzAccessLogLine: whatever a client makes the logged strings hold, the
// line stays one JSON object on one line, with the values slog would write.
func FuzzAccessLogLine(f *testing.F) {
	f.Add("GET", "/me", "req-1", "wrong \"x\"\n", 200)
	f.Add("\xff\u2028", "\\", "\x00", "\u2029\x7f<>&", 599)
	f.Fuzz(func(t *testing.T, method, route, requestID, errText string, status int) {
		e := accessEntry{time: time.Unix(1795452576, 987654321).UTC(), requestID: requestID, method: method,
			route: route, status: status, duration: time.Duration(status) * time.Microsecond, clientIP: "192.0.2.1", err: errText}
		checkLine(t, &e, e.appendJSON(nil))
	})
}

func TestAccessLogBatchesLines(t *testing.T) {
	var out syncbuf.Buffer
	l := NewAccessLog(&out, time.Hour) // no tick in this test
	t.Cleanup(func() { _ = l.Close() })
	e := accessEntry{time: time.Now(), requestID: "batched-1", method: "GET", route: "/me", status: 200}
	l.log(&e)
	if out.Len() != 0 {
		t.Fatalf("a line was written at once: %q, want it batched", out.String())
	}
	l.Flush()
	if !strings.Contains(out.String(), `"request_id":"batched-1"`) {
		t.Fatalf("after Flush the output is %q, want the line", out.String())
	}

	// A full batch is written without waiting for the interval.
	before := out.Len()
	n := 0
	for out.Len() == before {
		l.log(&e)
		n++
		if n > maxBatch {
			t.Fatalf("%d lines logged and none written: the batch has no bound", n)
		}
	}
	if got := out.Len() - before; got < maxBatch {
		t.Errorf("a batch of %d bytes was written, want at least %d", got, maxBatch)
	}
}

func TestAccessLogWritesOnTheInterval(t *testing.T) {
	var out syncbuf.Buffer
	l := NewAccessLog(&out, 20*time.Millisecond)
	t.Cleanup(func() { _ = l.Close() })
	e := accessEntry{time: time.Now(), requestID: "ticked-1", method: "GET", route: "/me", status: 200}
	l.log(&e)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "ticked-1") {
		if time.Now().After(deadline) {
			t.Fatal("the line was not written within 5s of a 20ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close writes every line logged before it (a graceful shutdown loses none);
// lines logged after it are written at once. Concurrent requests never
// interleave within a line.
func TestAccessLogCloseWritesEverything(t *testing.T) {
	var out syncbuf.Buffer
	l := NewAccessLog(&out, time.Hour)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := accessEntry{time: time.Now(), requestID: fmt.Sprintf("g%d-%d", g, i), method: "GET", route: "/me", status: 200}
				l.log(&e)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		var v struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v (interleaved writes?)", line, err)
		}
		seen[v.RequestID] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d distinct lines after Close, want %d", len(seen), goroutines*each)
	}

	e := accessEntry{time: time.Now(), requestID: "after-close", method: "GET", route: "/me", status: 200}
	l.log(&e)
	if !strings.Contains(out.String(), "after-close") {
		t.Error("a line logged after Close was not written at once")
	}
}
