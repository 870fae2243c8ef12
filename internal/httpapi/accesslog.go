package httpapi

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessLog writes the one-line-per-request access log. Its lines have the
// shape of the service's other log lines (slog's JSON: time, level, msg,
// then the fields), but they are formatted by hand into a shared buffer,
// with no allocation, and written out in batches: every FlushEvery, or at
// once when the buffer reaches maxBatch bytes. Profiled, a slog record and a
// write(2) per request cost more than authenticating the request.
//
// The trade-off: lines reach the output up to FlushEvery late, and a crash
// loses those not yet written; a graceful shutdown (Close) writes them all.
// Errors (5xx) do not go through here: they are logged at once, in full.
type AccessLog struct {
	w io.Writer

	mu    sync.Mutex
	buf   []byte
	every time.Duration // 0: each line is written at once

	writeMu sync.Mutex // held while writing; spare belongs to its holder
	spare   []byte

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// maxBatch is the buffer size that triggers a write before the interval.
const maxBatch = 64 << 10

// NewAccessLog returns an access log writing to w every flushEvery; with
// flushEvery 0 every line is written at once.
func NewAccessLog(w io.Writer, flushEvery time.Duration) *AccessLog {
	l := &AccessLog{w: w, every: flushEvery, stop: make(chan struct{}), done: make(chan struct{})}
	if flushEvery <= 0 {
		close(l.done)
		return l
	}
	l.buf = make([]byte, 0, maxBatch+1024)
	l.spare = make([]byte, 0, maxBatch+1024)
	go l.loop(flushEvery)
	return l
}

func (l *AccessLog) loop(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.Flush()
		case <-l.stop:
			l.Flush()
			return
		}
	}
}

// Flush writes the lines buffered so far.
func (l *AccessLog) Flush() {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	out := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(out) > 0 {
		_, _ = l.w.Write(out)
	}
	l.spare = out[:0]
}

// Close writes what is buffered and stops the background writer. Lines
// logged afterwards are written at once.
func (l *AccessLog) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.every = 0
		l.mu.Unlock()
		close(l.stop)
		<-l.done
		l.Flush()
	})
	return nil
}

// accessEntry is one access log line's fields.
type accessEntry struct {
	time      time.Time
	requestID string
	method    string
	route     string
	status    int
	duration  time.Duration
	clientIP  string
	rejection string // token rejection reason, if any
	err       string // what went wrong, if anything (never sent to the client)
}

// log appends e's line to the buffer and writes the buffer out when it is
// full or when the log is not batched.
func (l *AccessLog) log(e *accessEntry) {
	l.mu.Lock()
	l.buf = e.appendJSON(l.buf)
	flush := l.every <= 0 || len(l.buf) >= maxBatch
	l.mu.Unlock()
	if flush {
		l.Flush()
	}
}

// appendJSON formats e as slog's JSONHandler would: same keys, same order,
// durations in nanoseconds.
func (e *accessEntry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = appendJSONString(b, e.requestID)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.duration), 10)
	b = append(b, `,"client_ip":`...)
	b = appendJSONString(b, e.clientIP)
	if e.rejection != "" {
		b = append(b, `,"token_rejection":`...)
		b = appendJSONString(b, e.rejection)
	}
	if e.err != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.err)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped (as encoding/json and slog do), so a line can never be
// split or forged by what a client sent.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
