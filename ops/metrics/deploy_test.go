package metrics

// The dashboard (deploy/grafana/lienthong.json) and the alert rules
// (deploy/prometheus/alerts.yml) may only use series the hub exposes, with
// labels those series have: these tests scrape a Metrics that has every
// series and check each expression against it.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

var (
	alertsFile    = filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml")
	alertsTests   = filepath.Join("..", "..", "deploy", "prometheus", "alerts_test.yml")
	dashboardFile = filepath.Join("..", "..", "deploy", "grafana", "lienthong.json")
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// exposedSeries maps every series name a scrape of the fully driven
// Metrics has (histograms as their _bucket, _sum and _count) to its label
// names.
func exposedSeries(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for name, f := range scrape(t, drive(t).m) {
		labels := map[string]bool{}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		with := func(extra string) map[string]bool {
			l := map[string]bool{extra: true}
			for k := range labels {
				l[k] = true
			}
			return l
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = with("le")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		case dto.MetricType_SUMMARY:
			out[name] = with("quantile")
			out[name+"_sum"], out[name+"_count"] = labels, labels
		default:
			out[name] = labels
		}
	}
	return out
}

// selector is one series selector of a PromQL expression: a metric name
// and the label names its matchers use.
type selector struct {
	name   string
	labels []string
}

// promqlRefs is what an expression refers to.
type promqlRefs struct {
	selectors []selector
	grouping  []string // labels of by, without, on, ignoring, group_left, group_right
}

var (
	promqlAggregators = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
		"count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio")
	promqlGrouping = set("by", "without", "on", "ignoring", "group_left", "group_right")
	promqlKeywords = set("and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end", "atan2")
)

func set(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parsePromQL lexes expr just enough to find its series selectors and
// grouping labels. Strings, range and subquery brackets, numbers,
// durations and Grafana variables ($x, ${x}) are skipped; an identifier
// followed by "(" is a function or an aggregation; any other identifier
// that is no keyword is a metric name.
func parsePromQL(expr string) (promqlRefs, error) {
	var refs promqlRefs
	s, n := expr, len(expr)
	skipSpace := func(i int) int {
		for i < n && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
		return i
	}
	skipString := func(i int) (int, error) {
		q := s[i]
		for j := i + 1; j < n; j++ {
			switch {
			case s[j] == '\\' && q != '`':
				j++
			case s[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", i)
	}
	ident := func(i int) int {
		for i < n && isIdent(s[i]) {
			i++
		}
		return i
	}
	// matchers parses {label op "value", ...} from the "{" at i.
	matchers := func(i int) ([]string, int, error) {
		var labels []string
		i++
		for {
			i = skipSpace(i)
			if i >= n {
				return nil, 0, fmt.Errorf("unterminated matchers")
			}
			if s[i] == '}' {
				return labels, i + 1, nil
			}
			j := ident(i)
			if j == i {
				return nil, 0, fmt.Errorf("label name expected at %d", i)
			}
			labels = append(labels, s[i:j])
			i = skipSpace(j)
			j = i
			for j < n && strings.ContainsRune("=!~", rune(s[j])) {
				j++
			}
			if op := s[i:j]; op != "=" && op != "!=" && op != "=~" && op != "!~" {
				return nil, 0, fmt.Errorf("matcher operator expected at %d, found %q", i, op)
			}
			i = skipSpace(j)
			if i >= n || !strings.ContainsRune("\"'`", rune(s[i])) {
				return nil, 0, fmt.Errorf("string expected at %d", i)
			}
			var err error
			if i, err = skipString(i); err != nil {
				return nil, 0, err
			}
			i = skipSpace(i)
			if i < n && s[i] == ',' {
				i++
			}
		}
	}
	depth := 0
	for i := 0; i < n; {
		c := s[i]
		switch {
		case strings.ContainsRune(" \t\r\n", rune(c)):
			i++
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return refs, err
			}
			i = j
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return refs, fmt.Errorf("unterminated [ at %d", i)
			}
			i += j + 1
		case c == '$':
			i++
			if i < n && s[i] == '{' {
				j := strings.IndexByte(s[i:], '}')
				if j < 0 {
					return refs, fmt.Errorf("unterminated ${ at %d", i)
				}
				i += j + 1
			} else {
				i = ident(i)
			}
		case c == '{':
			labels, j, err := matchers(i)
			if err != nil {
				return refs, err
			}
			refs.selectors = append(refs.selectors, selector{labels: labels})
			i = j
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(s[i+1])):
			for i < n && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := ident(i)
			word := s[i:j]
			k := skipSpace(j)
			switch {
			case promqlGrouping[word]:
				if k >= n || s[k] != '(' {
					if word == "group_left" || word == "group_right" {
						i = j // no label list
						continue
					}
					return refs, fmt.Errorf("%s without a label list", word)
				}
				end := strings.IndexByte(s[k:], ')')
				if end < 0 {
					return refs, fmt.Errorf("unterminated %s (", word)
				}
				for _, l := range strings.Split(s[k+1:k+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						refs.grouping = append(refs.grouping, l)
					}
				}
				i = k + end + 1
			case k < n && s[k] == '(':
				i = j // a function call or an aggregation
			case promqlKeywords[word] || promqlAggregators[word]:
				i = j
			default:
				sel := selector{name: word}
				if k < n && s[k] == '{' {
					labels, end, err := matchers(k)
					if err != nil {
						return refs, err
					}
					sel.labels, j = labels, end
				}
				refs.selectors = append(refs.selectors, sel)
				i = j
			}
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth < 0 {
				return refs, fmt.Errorf("unbalanced ) at %d", i)
			}
			i++
		default:
			i++
		}
	}
	if depth != 0 {
		return refs, fmt.Errorf("unbalanced parentheses")
	}
	return refs, nil
}

// checkExpr checks that expr selects only exposed series, with labels they
// have, and groups by labels some of them have. It returns the problems
// and the labels the result may carry.
func checkExpr(expr string, exposed map[string]map[string]bool) (problems []string, labels map[string]bool) {
	labels = map[string]bool{}
	for l := range targetLabels {
		labels[l] = true
	}
	refs, err := parsePromQL(expr)
	if err != nil {
		return []string{fmt.Sprintf("%q: %v", expr, err)}, labels
	}
	if len(refs.selectors) == 0 {
		problems = append(problems, fmt.Sprintf("%q selects no series", expr))
	}
	for _, sel := range refs.selectors {
		if sel.name == "" {
			problems = append(problems, fmt.Sprintf("%q: a selector without a metric name", expr))
			continue
		}
		have, ok := exposed[sel.name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%q: %s is not exposed by the hub", expr, sel.name))
			continue
		}
		for _, l := range sel.labels {
			if !have[l] && !targetLabels[l] {
				problems = append(problems, fmt.Sprintf("%q: %s has no label %q", expr, sel.name, l))
			}
		}
		for l := range have {
			labels[l] = true
		}
	}
	for _, l := range refs.grouping {
		if !labels[l] {
			problems = append(problems, fmt.Sprintf("%q: groups by %q, which none of its series has", expr, l))
		}
	}
	return problems, labels
}

// The checker itself: it must catch what it is there for.
func TestCheckExpr(t *testing.T) {
	exposed := map[string]map[string]bool{
		"lienthong_sync_lag_seconds":                set("source"),
		"lienthong_handler_duration_seconds_bucket": set("handler", "le"),
	}
	for expr, want := range map[string]string{
		`max by (source) (lienthong_sync_lag_seconds) > 600`: "",
		`histogram_quantile(0.95, sum by (handler, le) (rate(lienthong_handler_duration_seconds_bucket{handler=~"$h"}[$__rate_interval])))`: "",
		`max(lienthong_sync_lag_seconds{source="a}b", job=~"x"} offset 5m) * 1e3`:                                                           "",
		`lienthong_sync_lag_seconds{source=~"$source"} > bool 1 and on(source) lienthong_sync_lag_seconds`:                                  "",
		`lienthong_sync_lag_second > 600`:                   "not exposed",
		`lienthong_sync_lag_seconds{sourec="sonla"}`:        "no label",
		`sum by (endpoint) (lienthong_sync_lag_seconds)`:    "groups by",
		`sum(rate(lienthong_handler_duration_seconds[5m]))`: "not exposed",
		`{__name__="lienthong_sync_lag_seconds"}`:           "without a metric name",
		`time() - 5`:                     "selects no series",
		`sum(lienthong_sync_lag_seconds`: "unbalanced",
	} {
		problems, _ := checkExpr(expr, exposed)
		got := strings.Join(problems, "; ")
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%s: problems %q, want %q", expr, got, want)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var templateLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

func TestAlertRules(t *testing.T) {
	f, err := os.Open(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var rules ruleFile
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	exposed := exposedSeries(t)
	alerts := map[string]bool{}
	used := map[string]bool{}
	if len(rules.Groups) == 0 {
		t.Fatal("no rule groups")
	}
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules wanted", g.Name)
		}
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			if (r.Alert == "") == (r.Record == "") {
				t.Errorf("rule %q: exactly one of alert and record wanted", name)
			}
			if alerts[name] {
				t.Errorf("rule %q defined twice", name)
			}
			alerts[name] = true
			problems, labels := checkExpr(r.Expr, exposed)
			for _, p := range problems {
				t.Errorf("rule %s: %s", name, p)
			}
			refs, _ := parsePromQL(r.Expr)
			for _, s := range refs.selectors {
				used[s.name] = true
			}
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if d == "" {
					continue
				}
				if _, err := model.ParseDuration(d); err != nil {
					t.Errorf("rule %s: duration %q: %v", name, d, err)
				}
			}
			if r.Record != "" {
				continue
			}
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", name, sev)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: summary and description wanted", name)
			}
			for _, text := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
					if !labels[m[1]] {
						t.Errorf("alert %s: annotation uses $labels.%s, which its series do not have", name, m[1])
					}
				}
			}
		}
	}
	// What the alerts are for.
	for _, want := range []string{"lienthong_sync_lag_seconds", "lienthong_breaker_state", "lienthong_quarantine_open", "lienthong_records_changed_total"} {
		if !used[want] {
			t.Errorf("no alert on %s", want)
		}
	}

	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Skip("promtool not installed")
		}
		out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	})
}

// TestAlertRulesUnit runs the rules' unit tests (deploy/prometheus/
// alerts_test.yml: ProvinceQuiet against simulated series) with promtool
// test rules, where promtool is installed.
func TestAlertRulesUnit(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: deploy/prometheus/alerts_test.yml not run")
	}
	if testing.Short() {
		t.Skip("-short: promtool test rules takes some seconds")
	}
	// promtool resolves rule_files against the test file's directory.
	out, err := exec.Command(promtool, "test", "rules", alertsTests).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("promtool test rules %s:\n%s", alertsTests, out)
}

var (
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	grafanaVar  = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)`)
	labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
)

func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("dashboard uid and title wanted")
	}
	exposed := exposedSeries(t)
	used := map[string]bool{}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("variable %s: query %q, want label_values(series, label)", v.Name, q)
			continue
		}
		problems, labels := checkExpr(m[1], exposed)
		for _, p := range problems {
			t.Errorf("variable %s: %s", v.Name, p)
		}
		if !labels[m[2]] {
			t.Errorf("variable %s: %s has no label %q", v.Name, m[1], m[2])
		}
	}

	type target struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		RefID        string `json:"refId"`
	}
	type panel struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []target          `json:"targets"`
		Panels  []json.RawMessage `json:"panels"`
	}
	ids := map[int]bool{}
	checked := map[string]bool{}
	nPanels := 0
	var walk func([]json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, r := range raws {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			nPanels++
			if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				checked[tg.Expr] = true
				problems, labels := checkExpr(tg.Expr, exposed)
				for _, pr := range problems {
					t.Errorf("panel %q: %s", p.Title, pr)
				}
				refs, _ := parsePromQL(tg.Expr)
				for _, s := range refs.selectors {
					used[s.name] = true
				}
				for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !labels[m[1]] {
						t.Errorf("panel %q: legend uses %s, which its series do not have", p.Title, m[1])
					}
				}
				for _, m := range grafanaVar.FindAllStringSubmatch(tg.Expr, -1) {
					if !vars[m[1]] {
						t.Errorf("panel %q: uses $%s, which is no dashboard variable", p.Title, m[1])
					}
				}
			}
		}
	}
	walk(dash.Panels)

	// Every expr anywhere in the file was seen above.
	var all any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var collect func(any)
	collect = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				collect(x)
			}
		case []any:
			for _, x := range v {
				collect(x)
			}
		}
	}
	collect(all)
	for _, e := range exprs {
		if checked[e] {
			continue
		}
		problems, _ := checkExpr(e, exposed)
		for _, p := range problems {
			t.Errorf("expr: %s", p)
		}
	}
	if len(exprs) < nPanels {
		t.Errorf("%d exprs for %d panels", len(exprs), nPanels)
	}

	// The panels the operators asked for; the last two watch for a
	// province going quiet.
	for _, want := range []string{
		"lienthong_dossiers_synced_total", "lienthong_sync_lag_seconds", "lienthong_quarantine_open",
		"lienthong_breaker_state", "lienthong_retries_total", "lienthong_handler_duration_seconds_bucket",
		"lienthong_dossiers_overdue", "lienthong_records_changed_total", "lienthong_source_last_change_timestamp_seconds",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}
