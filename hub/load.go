package hub

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Where it was set: "hub.yaml:23", or the environment variable that set
	// it; for a missing setting, where its section is, if anywhere.
	Where string
	// Setting is its key path, a source also by name:
	// "sources[1] (thainguyen).password".
	Setting string
	Msg     string

	key  string // Setting without names, e.g. "sources[1].password"
	line int    // in the file, 0 when not from it
}

func (p Problem) String() string {
	s := p.Msg
	if p.Setting != "" {
		s = p.Setting + ": " + s
	}
	if p.Where != "" {
		s = p.Where + ": " + s
	}
	return s
}

// Problems are everything wrong with a configuration; as an error, one
// line each.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err is ps as an error: nil when there are none.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// origins say where each setting of a loaded configuration was set.
type origins struct {
	at map[string]origin // by key path
	// unset are the settings whose ${NAME} variables are not set: that
	// explains any other problem with them.
	unset map[string]bool
}

type origin struct {
	where string
	line  int
}

// LoadConfig reads the configuration: the YAML file at path, if path is not
// empty, with ${NAME} replaced by the environment variable NAME, then the
// LIENTHONG_* environment variables over it (see envName), and checks it.
// The error lists every problem found (Problems), each with where it was
// set; the hub must not start on any.
func LoadConfig(path string) (Config, error) {
	l := &loader{path: path, missing: map[int][]string{}, env: map[*yaml.Node]string{},
		origins: origins{at: map[string]origin{}, unset: map[string]bool{}}}
	var cfg Config
	root, ok := l.read()
	if ok {
		l.applyEnv(root)
		l.decode(root, reflect.ValueOf(&cfg).Elem(), "", origin{})
		for _, line := range slices.Sorted(maps.Keys(l.missing)) {
			l.touch("", line) // on no setting: a comment, an empty value
		}
		l.problems = append(l.problems, cfg.check()...)
	}
	cfg.origin = &l.origins
	return cfg, cfg.locate(l.problems).Err()
}

// loader turns a YAML file and the environment into a Config, collecting
// every problem rather than stopping at the first.
type loader struct {
	path     string
	missing  map[int][]string // by line: the ${NAME} variables not set
	env      map[*yaml.Node]string
	origins  origins
	problems []Problem
}

func (l *loader) problem(key string, at origin, msg string) {
	l.problems = append(l.problems, Problem{Where: at.where, Msg: msg, key: key, line: at.line})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// read reads and parses the file, expanding ${NAME} line by line so that
// an unset variable is known by its line. Without a file the configuration
// is an empty mapping, for the environment to fill.
func (l *loader) read() (*yaml.Node, bool) {
	empty := &yaml.Node{Kind: yaml.MappingNode}
	if l.path == "" {
		return empty, true
	}
	raw, err := os.ReadFile(l.path)
	if err != nil {
		l.problem("", origin{}, "read config: "+err.Error())
		return nil, false
	}
	lines := strings.SplitAfter(string(raw), "\n")
	for i, s := range lines {
		lines[i] = os.Expand(s, func(name string) string {
			v, ok := os.LookupEnv(name)
			if !ok && !slices.Contains(l.missing[i+1], name) {
				l.missing[i+1] = append(l.missing[i+1], name)
			}
			return v
		})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "")), &doc); err != nil {
		msg, at := err.Error(), origin{where: l.path}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			at.line, _ = strconv.Atoi(m[1])
			at.where, msg = fmt.Sprintf("%s:%s", l.path, m[1]), msg[len(m[0]):]
		}
		l.problem("", at, msg)
		return nil, false
	}
	if len(doc.Content) == 0 {
		return empty, true
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.problem("", l.fileOrigin(root.Line), "want a mapping of settings")
		return nil, false
	}
	return root, true
}

func (l *loader) fileOrigin(line int) origin {
	return origin{where: fmt.Sprintf("%s:%d", l.path, line), line: line}
}

// child is where the node n under key was set: the variable that set it, its
// line in the file, or (for nodes the environment added) where its parent was.
func (l *loader) child(key string, n *yaml.Node, parent origin) origin {
	at := parent
	if name, ok := l.env[n]; ok {
		at = origin{where: name}
	} else if n.Line > 0 {
		at = l.fileOrigin(n.Line)
	}
	if at.where != "" {
		l.origins.at[key] = at
	}
	if n.Line > 0 {
		l.touch(key, n.Line)
	}
	return at
}

// touch reports the unset variables of the line, on the first setting met
// on it.
func (l *loader) touch(key string, line int) {
	names := l.missing[line]
	if len(names) == 0 {
		return
	}
	delete(l.missing, line)
	if key != "" {
		l.origins.unset[key] = true
	}
	msg := "environment variable " + names[0] + " not set"
	if len(names) > 1 {
		msg = "environment variables " + strings.Join(names, ", ") + " not set"
	}
	l.problem(key, l.fileOrigin(line), msg)
}

// touchAll touches every line of a value (a value may span lines).
func (l *loader) touchAll(key string, n *yaml.Node) {
	if n.Line > 0 {
		l.touch(key, n.Line)
	}
	for _, c := range n.Content {
		l.touchAll(key, c)
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// decode decodes n into v, the setting key, set at at. Sections and lists
// of sections are walked here so that every unknown key and every bad value
// is reported with its own key and line; values are decoded by yaml.
func (l *loader) decode(n *yaml.Node, v reflect.Value, key string, at origin) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.problem(key, at, "want a mapping of settings")
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		l.decode(n, v.Elem(), key, at)
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.problem(key, at, "want a mapping of settings")
			return
		}
		l.decodeMapping(n, v, key, at)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			l.problem(key, at, "want a list")
			return
		}
		v.Set(reflect.MakeSlice(t, len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			sub := fmt.Sprintf("%s[%d]", key, i)
			l.decode(item, v.Index(i), sub, l.child(sub, item, at))
		}
	default:
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				l.child(fmt.Sprintf("%s[%d]", key, i), item, at)
			}
		}
		l.touchAll(key, n)
		if err := n.Decode(v.Addr().Interface()); err != nil {
			l.problem(key, at, valueProblem(t, err))
		}
	}
}

// decodeMapping decodes a mapping into the struct v.
func (l *loader) decodeMapping(n *yaml.Node, v reflect.Value, key string, at origin) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			l.decode(val, v, key, at)
			continue
		}
		sub := joinKey(key, k.Value)
		kat := l.child(sub, k, at)
		if line, dup := seen[k.Value]; dup {
			l.problem(sub, kat, fmt.Sprintf("also set at line %d", line))
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(v.Type(), k.Value)
		if !ok {
			l.problem(sub, kat, "unknown key")
			continue
		}
		vat := kat
		if name, ok := l.env[val]; ok {
			vat = origin{where: name}
			l.origins.at[sub] = vat
		}
		l.decode(val, v.FieldByIndex(f.Index), sub, vat)
	}
}

// valueProblem says what a value that does not decode into t should be.
func valueProblem(t reflect.Type, err error) string {
	switch {
	case t == durationType:
		return "not a duration, such as 30s, 2m or 1h30m"
	case t.Kind() == reflect.Bool:
		return "not true or false"
	case t.Kind() == reflect.Int:
		return "not a whole number"
	case t.Kind() == reflect.Slice:
		return "want a list"
	case t.Kind() == reflect.Map:
		return "want a mapping of values"
	case t.Kind() == reflect.String:
		return "want a single value"
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func joinKey(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

// yamlKey is the key of a setting's field ("" for none).
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if !f.IsExported() || name == "-" {
		return ""
	}
	return name
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// locate names each problem's setting (a source also by its name) and where
// it was set (or its nearest enclosing section was), drops those an unset
// ${NAME} variable already explains and repeats, and orders them as in the
// file.
func (c *Config) locate(ps []Problem) Problems {
	var o origins
	if c.origin != nil {
		o = *c.origin
	}
	var out Problems
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Where == "" && explained(o.unset, p.key) {
			continue
		}
		if p.Where == "" {
			for k := p.key; k != ""; k = parentKey(k) {
				if at, ok := o.at[k]; ok {
					p.Where, p.line = at.where, at.line
					break
				}
			}
		}
		p.Setting = c.named(p.key)
		if s := p.String(); !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int {
		switch {
		case a.line > 0 && b.line > 0:
			return cmp.Compare(a.line, b.line)
		case a.line > 0:
			return -1
		case b.line > 0:
			return 1
		}
		return 0
	})
	return out
}

// explained reports whether key is, or is under, a setting whose variable
// is not set.
func explained(unset map[string]bool, key string) bool {
	for k := key; k != ""; k = parentKey(k) {
		if unset[k] {
			return true
		}
	}
	return false
}

// parentKey is the key of the section or list holding key.
func parentKey(key string) string {
	return key[:max(strings.LastIndexAny(key, ".["), 0)]
}

// named is key with the source it is under named: "sources[1] (thainguyen).password".
func (c *Config) named(key string) string {
	rest, ok := strings.CutPrefix(key, "sources[")
	if !ok {
		return key
	}
	idx, rest, ok := strings.Cut(rest, "]")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || i >= len(c.Sources) || c.Sources[i].Name == "" {
		return key
	}
	return "sources[" + idx + "] (" + c.Sources[i].Name + ")" + rest
}
