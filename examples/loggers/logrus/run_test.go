package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Contains(t, out.String(), `level=warning msg="leaksentinel: goroutine leak"`)
	assert.Contains(t, out.String(), `site="github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo.leak.func1 `)
	assert.Contains(t, out.String(), `state="chan receive"`)
	assert.Contains(t, out.String(), ` count=`)
}
