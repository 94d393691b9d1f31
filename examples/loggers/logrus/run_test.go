package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Contains(t, out.String(), `level=warning msg="leaksentinel: goroutine leak"`)
	assert.Contains(t, out.String(), `site="github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo.leak.func1 `)
	assert.Contains(t, out.String(), `state="chan receive"`)
}

// entryHook keeps the entries a logrus logger writes.
type entryHook struct{ entries []*logrus.Entry }

func (h *entryHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *entryHook) Fire(e *logrus.Entry) error {
	h.entries = append(h.entries, e)
	return nil
}

type lazy struct{}

func (lazy) LogValue() slog.Value { return slog.StringValue("resolved") }

func TestLogrusHandler(t *testing.T) {
	when := time.Date(2026, 11, 27, 5, 41, 26, 0, time.UTC)
	tests := []struct {
		name       string
		give       func(*slog.Logger)
		wantLevel  logrus.Level
		wantFields logrus.Fields
	}{
		{
			name:       "attributes and level",
			give:       func(l *slog.Logger) { l.Warn("m", "count", 3, "state", "chan send") },
			wantLevel:  logrus.WarnLevel,
			wantFields: logrus.Fields{"count": int64(3), "state": "chan send"},
		},
		{
			name:       "groups and With",
			give:       func(l *slog.Logger) { l.With("a", 1).WithGroup("g").With("b", 2).Error("m", slog.Group("h", "c", 3)) },
			wantLevel:  logrus.ErrorLevel,
			wantFields: logrus.Fields{"a": int64(1), "g.b": int64(2), "g.h.c": int64(3)},
		},
		{
			name:       "empty attributes dropped, inline groups, LogValuer resolved",
			give:       func(l *slog.Logger) { l.Info("m", slog.Attr{}, slog.Group("", "d", 4), "v", lazy{}) },
			wantLevel:  logrus.InfoLevel,
			wantFields: logrus.Fields{"d": int64(4), "v": "resolved"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger := logrus.New()
			logger.SetOutput(new(bytes.Buffer))
			var hook entryHook
			logger.AddHook(&hook)
			tt.give(slog.New(newLogrusHandler(logger)))
			require.Len(t, hook.entries, 1)
			e := hook.entries[0]
			assert.Equal(t, "m", e.Message)
			assert.Equal(t, tt.wantLevel, e.Level)
			assert.Equal(t, tt.wantFields, e.Data)
		})
	}

	logger := logrus.New()
	logger.SetLevel(logrus.WarnLevel)
	h := newLogrusHandler(logger)
	assert.False(t, h.Enabled(context.Background(), slog.LevelInfo))
	assert.True(t, h.Enabled(context.Background(), slog.LevelWarn))

	var hook entryHook
	logger.AddHook(&hook)
	logger.SetOutput(new(bytes.Buffer))
	r := slog.NewRecord(when, slog.LevelError, "at a time", 0)
	require.NoError(t, h.Handle(context.Background(), r))
	require.Len(t, hook.entries, 1)
	assert.Equal(t, when, hook.entries[0].Time)
}
