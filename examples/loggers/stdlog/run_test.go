package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	assert.Regexp(t, regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d myservice: level=WARN msg="leaksentinel: goroutine leak" `+
		`site="github.com/leaksentinel/leaksentinel/examples/loggers/internal/demo\.leak\.func1 \S+/demo\.go:\d+" state="chan receive" count=\d+ `),
		out.String())
	assert.NotContains(t, out.String(), "time=", "the *log.Logger prints the time")
}
