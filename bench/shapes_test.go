package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPastedShapes reads the pasted shapes of ../testdata/shapes with
// leaksentinel and panicparse: leaksentinel agrees with the clean capture
// everywhere, and where panicparse reads a whole file, the two agree site
// by site. Where panicparse stops or drops goroutines, the log says so.
func TestPastedShapes(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "shapes", "go1.*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "run go run ./testdata/gen -shapes in the module root")
	for _, dir := range dirs {
		var m struct {
			Files []struct {
				File string   `json:"file"`
				From []string `json:"from"`
			} `json:"files"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, &m))
		for _, f := range m.Files {
			if len(f.From) != 1 {
				continue
			}
			t.Run(filepath.Join(filepath.Base(dir), f.File), func(t *testing.T) {
				clean, err := os.ReadFile(filepath.Join("..", "testdata", filepath.Base(dir), f.From[0]))
				require.NoError(t, err)
				want, err := parseLeaksentinel(bytes.NewReader(clean))
				require.NoError(t, err)
				text := gunzip(t, filepath.Join(dir, f.File))
				ours, err := parseLeaksentinel(bytes.NewReader(text))
				require.NoError(t, err)
				assert.Equal(t, want.counts(), ours.counts(), "leaksentinel: the shape against the clean capture")
				theirs, err := parsePanicparse(bytes.NewReader(text))
				switch {
				case err != nil:
					t.Logf("panicparse does not read it: %v", err)
				case theirs.total() != want.total():
					t.Logf("panicparse reads %d of its %d goroutines, without an error", theirs.total(), want.total())
				default:
					assert.Equal(t, theirs.counts(), ours.counts(), "leaksentinel against panicparse")
				}
			})
		}
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return b
}
