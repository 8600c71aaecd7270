package decision

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// ErrorLog writes errors to a logger at most once a second, with a count
// of the ones it dropped in between, so that an outage of the limiter's
// backend cannot flood the log. The zero ErrorLog is ready to use; it is
// safe for simultaneous use by multiple goroutines.
type ErrorLog struct {
	last    atomic.Int64 // UnixNano of the last line written
	dropped atomic.Int64
}

// Log writes msg at level Error to l with the attributes error (err's
// text), attrs and suppressed (the count of lines dropped since the last
// one), unless a line was written less than a second ago: then it counts
// this one as dropped.
func (e *ErrorLog) Log(ctx context.Context, l *slog.Logger, msg string, err error, attrs ...slog.Attr) {
	now := time.Now().UnixNano()
	last := e.last.Load()
	if now-last < int64(time.Second) || !e.last.CompareAndSwap(last, now) {
		e.dropped.Add(1)
		return
	}
	var buf [8]slog.Attr
	all := append(buf[:0], slog.String("error", err.Error()))
	all = append(all, attrs...)
	all = append(all, slog.Int64("suppressed", e.dropped.Swap(0)))
	l.LogAttrs(ctx, slog.LevelError, msg, all...)
}
