package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/leaksentinel/leaksentinel"
)

func TestHelpAndUsage(t *testing.T) {
	tests := []struct {
		name       string
		give       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "no command", give: nil, wantCode: exitUsage, wantStderr: []string{"Commands:", "group", "diff", "watch", "Exit codes:"}},
		{name: "help", give: []string{"help"}, wantCode: exitOK, wantStdout: []string{"Commands:", "Exit codes:"}},
		{name: "--help", give: []string{"--help"}, wantCode: exitOK, wantStdout: []string{"Commands:"}},
		{name: "help group", give: []string{"help", "group"}, wantCode: exitOK, wantStdout: []string{"Usage: leaksentinel group", "--stacks", "--source-dir DIR", "Examples:", "Exit codes:"}},
		{name: "group --help", give: []string{"group", "--help"}, wantCode: exitOK, wantStdout: []string{"Usage: leaksentinel group", "--json", "Examples:", "Exit codes:"}},
		{name: "diff -h", give: []string{"diff", "-h"}, wantCode: exitOK, wantStdout: []string{"Usage: leaksentinel diff", "--fail-on-growth N", "Examples:", "Exit codes:"}},
		{name: "watch --help", give: []string{"watch", "--help"}, wantCode: exitOK, wantStdout: []string{"Usage: leaksentinel watch", "--interval duration", "(default 10s)", "--window samples", fmt.Sprintf("(default %d)", leaksentinel.DefaultWindow), "--debug2", "Examples:", "Exit codes:"}},
		{name: "help unknown", give: []string{"help", "frob"}, wantCode: exitUsage, wantStderr: []string{`unknown command "frob"`}},
		{name: "unknown command", give: []string{"frob"}, wantCode: exitUsage, wantStderr: []string{`unknown command "frob"`}},
		{name: "unknown flag", give: []string{"group", "--frob", "x"}, wantCode: exitUsage, wantStderr: []string{"leaksentinel group: flag provided but not defined: -frob", "leaksentinel group --help"}},
		{name: "group without file", give: []string{"group"}, wantCode: exitUsage, wantStderr: []string{"want one FILE"}},
		{name: "group negative top", give: []string{"group", "--top", "-1", "x"}, wantCode: exitUsage, wantStderr: []string{"--top -1"}},
		{name: "diff one file", give: []string{"diff", "a"}, wantCode: exitUsage, wantStderr: []string{"want BASE and CUR"}},
		{name: "diff stdin twice", give: []string{"diff", "-", "-"}, wantCode: exitUsage, wantStderr: []string{"only one of BASE and CUR"}},
		{name: "watch without URL", give: []string{"watch"}, wantCode: exitUsage, wantStderr: []string{"want one URL"}},
		{name: "watch bad window", give: []string{"watch", "--window", "3", "--interval", "0s", "localhost:1"}, wantCode: exitUsage, wantStderr: []string{"--window 3", "--interval 0s"}},
		{name: "watch bad scheme", give: []string{"watch", "ftp://x/"}, wantCode: exitUsage, wantStderr: []string{`scheme "ftp"`}},
		{name: "group missing file", give: []string{"group", "no/such/file"}, wantCode: exitInput, wantStderr: []string{"no/such/file", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runInProcess(t.Context(), nil, false, tt.give...)
			assert.Equal(t, tt.wantCode, got.code, "%s", got)
			for _, want := range tt.wantStdout {
				assert.Contains(t, got.stdout, want)
			}
			for _, want := range tt.wantStderr {
				assert.Contains(t, got.stderr, want)
			}
		})
	}
}

// TestBinaryHelp checks the built binary: help on stdout, exit 0.
func TestBinaryHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"group", "diff", "watch"} {
		got := runCLI(t, nil, cmd, "--help")
		assert.Equal(t, exitOK, got.code, "%s", got)
		assert.Contains(t, got.stdout, "Examples:\n  leaksentinel "+cmd)
		assert.Empty(t, got.stderr)
	}
	got := runCLI(t, nil)
	assert.Equal(t, exitUsage, got.code)
}
