package main

import (
	"context"
	"log/slog"
	"maps"

	"github.com/sirupsen/logrus"
)

// logrusHandler is a slog.Handler that writes records as entries of a
// logrus logger: the message as the message, the level mapped to logrus's,
// attributes as fields, those of groups named "group.key".
type logrusHandler struct {
	logger *logrus.Logger
	fields logrus.Fields // from WithAttrs
	prefix string        // from WithGroup: "group." for each group
}

func newLogrusHandler(logger *logrus.Logger) *logrusHandler {
	return &logrusHandler{logger: logger, fields: logrus.Fields{}}
}

func (h *logrusHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.logger.IsLevelEnabled(logrusLevel(l))
}

func (h *logrusHandler) Handle(ctx context.Context, r slog.Record) error {
	fields := maps.Clone(h.fields)
	r.Attrs(func(a slog.Attr) bool {
		addField(fields, h.prefix, a)
		return true
	})
	entry := h.logger.WithContext(ctx).WithFields(fields)
	if !r.Time.IsZero() {
		entry = entry.WithTime(r.Time)
	}
	entry.Log(logrusLevel(r.Level), r.Message)
	return nil
}

func (h *logrusHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.fields = maps.Clone(h.fields)
	for _, a := range attrs {
		addField(h2.fields, h.prefix, a)
	}
	return &h2
}

func (h *logrusHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix += name + "."
	return &h2
}

// addField adds a to fields, a group's attributes each with the group's
// name before its key; empty attributes are dropped, as slog requires.
func addField(fields logrus.Fields, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range v.Group() {
			addField(fields, prefix, g)
		}
		return
	}
	if a.Equal(slog.Attr{}) {
		return
	}
	fields[prefix+a.Key] = v.Any()
}

func logrusLevel(l slog.Level) logrus.Level {
	switch {
	case l >= slog.LevelError:
		return logrus.ErrorLevel
	case l >= slog.LevelWarn:
		return logrus.WarnLevel
	case l >= slog.LevelInfo:
		return logrus.InfoLevel
	default:
		return logrus.DebugLevel
	}
}
