package metrics_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sockhop/sockhop/metrics"
)

// dashboardExprs returns the PromQL expressions of examples/monitoring's Grafana
// dashboard, its $instance variable replaced by a regexp that matches anything.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../examples/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, strings.ReplaceAll(tg.Expr, "$instance", ".*"))
		}
	}
	return exprs
}

// TestDashboardNames: every metric the dashboard queries is one New registers.
func TestDashboardNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	// A vector shows only once it has a child: touch every one.
	m.SessionOpened("websocket", time.Millisecond)
	m.SessionResumed("websocket", "xhr-polling", time.Millisecond)
	m.SessionResumed("xhr-polling", "websocket", time.Millisecond)
	m.ResumeFailed("websocket")
	m.SessionClosed("websocket", 1000)
	m.ConnectionRefused("websocket", 1013, "per_address")
	m.SlowConsumer("websocket", 1)
	m.Broadcast(1)
	m.AdapterPublish("rooms", time.Millisecond, errors.New("down"))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	used := map[string]bool{}
	name := regexp.MustCompile(`sockhop_[a-z_]+`)
	for _, e := range dashboardExprs(t) {
		for _, n := range name.FindAllString(e, -1) {
			base := n
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suf); ok && have[b] {
					base = b
				}
			}
			if !have[base] {
				t.Errorf("the dashboard queries %s, which metrics.New does not register", n)
			}
			used[base] = true
		}
	}
	for n := range have {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}

// TestDashboardPromQL checks every query of the dashboard with promtool (as the
// expressions of recording rules), when promtool is installed.
func TestDashboardPromQL(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(e) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard:q%d\n        expr: %s\n", i, q)
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
