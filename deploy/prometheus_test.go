package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// testFor is the GoroutineLeak rule's for: in the end-to-end test, instead
// of the file's ten minutes; promtool's unit tests check the ten minutes.
const testFor = "2s"

// TestPrometheusFiresTheAlert runs what an operator deploys: a leaking
// service serving the prom module's metrics, and a real Prometheus on
// 127.0.0.1 scraping it every second with the shipped rules, evaluated
// every second (GoroutineLeak's for: shortened to testFor). It waits until
// Prometheus's HTTP API shows the leak alert firing with the leaking site
// in its labels, then asks Prometheus the dashboard's sites query and
// checks that it marks the site.
func TestPrometheusFiresTheAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a service and runs Prometheus")
	}
	prometheus := lookPath(t, "prometheus")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build the leaking service:", err)
	}
	dir := t.TempDir()

	// The service, built as the README recommends: with -trimpath, its
	// location labels are module paths. (The first -trimpath build
	// compiles the standard library anew: minutes on a cold cache.)
	leaky := filepath.Join(dir, "leaky")
	build, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	out, err := exec.CommandContext(build, goCmd, "build", "-trimpath", "-o", leaky, "./leaky").CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	started := time.Now()
	svc := start(ctx, t, leaky, "-interval", "50ms", "-every", "10ms")
	line, err := svc.firstLine(20 * time.Second)
	require.NoError(t, err, "leaky's address; its output:\n%s", svc.output())
	target, err := url.Parse(strings.TrimSpace(line))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", target.Hostname(), line)

	rules := filepath.Join(dir, rulesFile)
	require.NoError(t, os.WriteFile(rules, withFor(t, rulesFile, "GoroutineLeak", testFor), 0o600))
	config := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: leaky
    metrics_path: %q
    static_configs:
      - targets: [%q]
`, rules, target.Path, target.Host), 0o600))

	addr := freeAddr(t)
	srv := start(ctx, t, prometheus,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	api := "http://" + addr + "/api/v1/"
	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	var firing *promAlert
	deadline := time.Now().Add(60 * time.Second)
	for firing == nil {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("GoroutineLeak not firing within 60s.\nprometheus:\n%s\nleaky:\n%s\nmetrics:\n%s",
				srv.output(), svc.output(), get(client, target.String()))
		}
		if srv.exited() {
			t.Fatalf("prometheus exited:\n%s", srv.output())
		}
		time.Sleep(250 * time.Millisecond)
		var alerts struct {
			Alerts []promAlert `json:"alerts"`
		}
		if err := query(client, api+"alerts", &alerts); err != nil {
			continue // not up yet
		}
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == "GoroutineLeak" && a.State == "firing" {
				firing = &a
			}
		}
	}
	t.Logf("firing %s after the service started: %v %v", time.Since(started).Round(100*time.Millisecond), firing.Labels, firing.Annotations)
	assert.Equal(t, "main.search.func1", firing.Labels["function"], "the leaking goroutine's function")
	assert.Equal(t, "chan send", firing.Labels["state"])
	assert.Equal(t, "main.search", firing.Labels["created_by"])
	assert.Regexp(t, `^github\.com/leaksentinel/leaksentinel/deploy/leaky/main\.go:\d+$`, firing.Labels["location"],
		"with -trimpath, the location is the module path and the line")
	assert.Equal(t, "leaky", firing.Labels["job"])
	assert.Equal(t, target.Host, firing.Labels["instance"])
	assert.Equal(t, "warning", firing.Labels["severity"])
	assert.Contains(t, firing.Annotations["description"], firing.Labels["location"])

	// The dashboard's table of sites marks the leaking one.
	expr := grafanaVars.Replace(panelQuery(t, readDashboard(t), "Sites by goroutines, the leaking ones marked"))
	var result struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
		} `json:"result"`
	}
	// The panel is read as a person would look at it while the alert
	// fires: within a few scrapes. (Once in CI, at the first query, the
	// leaking site was listed but not marked; the cause was not found.)
	var marked map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; {
		require.NoError(t, query(client, api+"query?query="+url.QueryEscape(expr), &result))
		marked = make(map[string]string)
		for _, r := range result.Result {
			marked[r.Metric["function"]] = r.Metric["leaking"]
		}
		if marked["main.search.func1"] == "yes" || time.Now().After(deadline) {
			break
		}
		t.Logf("the leaking site is not marked yet: %v", marked)
		time.Sleep(time.Second)
	}
	assert.Equal(t, "yes", marked["main.search.func1"], "the leaking site is marked: %v", marked)
	assert.Contains(t, marked, "main.worker", "a healthy site is listed")
	assert.Empty(t, marked["main.worker"], "a healthy site is not marked")
}

// promAlert is an alert as /api/v1/alerts lists it.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// query gets a Prometheus API endpoint and decodes its data into v.
func query(client *http.Client, u string, v any) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", u, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, v)
}

func get(client *http.Client, u string) string {
	resp, err := client.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}

// withFor returns the rules file with the for: of the alert named alert
// set to d, the rest as it is.
func withFor(t *testing.T, file, alert, d string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	var set bool
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && value(n, "alert") == alert {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "for" {
					n.Content[i+1].Value = d
					set = true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	require.True(t, set, "no for: in alert %s", alert)
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	return out
}

// value returns the scalar under key in the mapping n, or "".
func value(n *yaml.Node, key string) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// freeAddr returns an address on 127.0.0.1 that nothing listened on a
// moment ago: Prometheus cannot report the port it got for :0.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// process is a program the test runs, stopped with SIGTERM at the test's
// end.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer // stderr, and stdout after its first line
	lines chan string
	done  chan struct{}
}

func start(ctx context.Context, t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{lines: make(chan string, 1), done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(syscall.SIGTERM) }
	p.cmd.WaitDelay = 10 * time.Second
	p.cmd.Stderr = writerFunc(p.write)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start(), name)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				p.lines <- sc.Text()
				first = false
				continue
			}
			p.write(append(sc.Bytes(), '\n'))
		}
	}()
	go func() {
		defer close(p.done)
		p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	})
	return p
}

func (p *process) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) firstLine(timeout time.Duration) (string, error) {
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		return "", fmt.Errorf("exited: %v", p.cmd.ProcessState)
	case <-time.After(timeout):
		return "", fmt.Errorf("nothing printed in %v", timeout)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
