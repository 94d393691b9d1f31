package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	var alert map[string]any
	for line := range strings.Lines(out.String()) {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		if entry["msg"] == "leaksentinel: goroutine leak" {
			alert = entry
			break
		}
	}
	require.NotNil(t, alert, out.String())
	assert.Equal(t, "warn", alert["level"])
	assert.Equal(t, "leaksentinel", alert["logger"])
	assert.Equal(t, "chan receive", alert["state"])
	assert.Contains(t, alert["site"], "github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo.leak.func1 ")
	assert.Contains(t, alert["created_by"], "github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo.leak ")
	assert.Positive(t, alert["count"])
}
