package deploy

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	rulesFile     = "leaksentinel.rules.yml"
	rulesTestFile = "leaksentinel.rules.test.yml"
	dashboardFile = "grafana-dashboard.json"
)

var promql = parser.NewParser(parser.Options{})

// exported returns the series names the prom module exports, from its
// golden exposition (prom/testdata/metrics.txt, which its tests keep true):
// each family, and a histogram's _bucket, _sum and _count.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "prom", "testdata", "metrics.txt"))
	require.NoError(t, err)
	defer f.Close()
	names := make(map[string]bool)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 || fields[0] != "#" || fields[1] != "TYPE" {
			continue
		}
		names[fields[2]] = true
		if fields[3] == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[fields[2]+suffix] = true
			}
		}
	}
	require.NoError(t, sc.Err())
	require.Contains(t, names, "leaksentinel_leak_goroutines")
	return names
}

// checkExpr parses expr with Prometheus's parser and checks that every
// series it selects is one the prom module exports.
func checkExpr(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if !assert.NoError(t, err, "%s: %s", where, expr) {
		return
	}
	var selected int
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			selected++
			assert.True(t, names[vs.Name], "%s: %s is not a metric of the prom module", where, vs.Name)
		}
		return nil
	})
	assert.Positive(t, selected, "%s selects no series: %s", where, expr)
}

// TestRules parses the rules file as Prometheus does and checks that every
// rule reads metrics that exist and says what an on-call engineer needs.
func TestRules(t *testing.T) {
	names := exported(t)
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	alerts := make(map[string]rulefmt.Rule)
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "only alerting rules: %s", r.Expr)
			alerts[r.Alert] = r
			checkExpr(t, r.Alert, r.Expr, names)
			assert.NotEmpty(t, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], r.Alert)
		}
	}
	assert.ElementsMatch(t, []string{"GoroutineLeak", "LeakAlertsDropped", "LiveHeapGrowing"}, keys(alerts))
	assert.Equal(t, model.Duration(10*60e9), alerts["GoroutineLeak"].For, "the leak stays open for a while before it pages")
}

// TestPromtool runs the rules' unit tests with promtool.
func TestPromtool(t *testing.T) {
	promtool := lookPath(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		assert.Contains(t, string(out), "SUCCESS", "promtool %s", strings.Join(args, " "))
	}
}

// dashboard is what the tests read of a Grafana dashboard.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"` // a string, or {"query": ...}
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource source `json:"datasource"`
		GridPos    struct {
			X, Y, W, H int
		} `json:"gridPos"`
		Targets []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource source `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type source struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVars are the variables the dashboard's queries use, with values
// that make them PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "1m",
	"$__range", "1h",
	"$job", ".*",
	"$instance", ".*",
)

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	require.NoError(t, dec.Decode(&d))
	_, err = dec.Token()
	require.ErrorIs(t, err, io.EOF, "one JSON document")
	return d
}

// TestDashboard checks the dashboard Grafana imports: its variables and
// every panel's query parse with Prometheus's parser and read metrics that
// exist, panels do not overlap, and every query goes to the dashboard's
// Prometheus variable.
func TestDashboard(t *testing.T) {
	names := exported(t)
	d := readDashboard(t)
	assert.NotEmpty(t, d.Title)
	assert.NotEmpty(t, d.UID)

	vars := make(map[string]bool)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		query, _ := q["query"].(string)
		inner, ok := strings.CutPrefix(query, "label_values(")
		require.True(t, ok, "variable %s: %q", v.Name, query)
		selector, label, ok := cutLast(strings.TrimSuffix(inner, ")"), ",")
		require.True(t, ok, "variable %s: %q", v.Name, query)
		assert.True(t, model.LegacyValidation.IsValidLabelName(strings.TrimSpace(label)), "variable %s: label %q", v.Name, label)
		checkExpr(t, "variable "+v.Name, grafanaVars.Replace(selector), names)
	}
	for _, v := range []string{"datasource", "job", "instance"} {
		assert.True(t, vars[v], "variable %s", v)
	}

	ids := make(map[int]bool)
	type cell struct{ x, y int }
	taken := make(map[cell]string)
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.Equal(t, source{"prometheus", "${datasource}"}, p.Datasource, p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		assert.Positive(t, p.GridPos.W, p.Title)
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				other, overlap := taken[cell{x, y}]
				assert.False(t, overlap, "panels %q and %q overlap", p.Title, other)
				taken[cell{x, y}] = p.Title
			}
		}
		refs := make(map[string]bool)
		for _, tg := range p.Targets {
			assert.False(t, refs[tg.RefID], "%s: refId %s twice", p.Title, tg.RefID)
			refs[tg.RefID] = true
			assert.Equal(t, source{"prometheus", "${datasource}"}, tg.Datasource, p.Title)
			checkExpr(t, p.Title, grafanaVars.Replace(tg.Expr), names)
		}
	}
	for _, title := range []string{"Sites by goroutines, the leaking ones marked", "Leaks over time", "Sample cost"} {
		assert.NotEmpty(t, panelQuery(t, d, title), title)
	}
}

// panelQuery returns the first query of the panel titled title.
func panelQuery(t *testing.T, d dashboard, title string) string {
	t.Helper()
	for _, p := range d.Panels {
		if p.Title == title {
			return p.Targets[0].Expr
		}
	}
	t.Fatalf("no panel %q", title)
	return ""
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// lookPath finds a program that a test needs, or skips the test saying
// how to get it.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found (%v): install Debian's prometheus package (apt-get install prometheus; .ci/run does when it may) to run this test", name, err)
	}
	return path
}
