package hub

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// envPrefix begins the environment variable of every setting.
const envPrefix = "LIENTHONG_"

// envName is the environment variable of the setting at path: LIENTHONG_
// and its YAML keys, upper-cased, joined by '_' (LIENTHONG_KAFKA_BROKERS,
// LIENTHONG_STORE_POSTGRES_DSN; a source's with its index,
// LIENTHONG_SOURCES_0_BASE_URL).
func envName(path ...string) string {
	return envPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// maxSources bounds a source index in a variable's name.
const maxSources = 1000

// setting is one value of the configuration: its YAML key path and type.
type setting struct {
	path []string
	typ  reflect.Type
}

// settings lists the values of section type t under path, descending into
// sections but not into lists of them.
func settings(t reflect.Type, path []string) []setting {
	var out []setting
	for _, f := range reflect.VisibleFields(t) {
		key := yamlKey(f)
		if key == "" {
			continue
		}
		p := append(slices.Clip(path), key)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, settings(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		default:
			out = append(out, setting{p, f.Type})
		}
	}
	return out
}

// applyEnv sets, over the file, every setting whose variable is set. A
// source's are LIENTHONG_SOURCES_<index>_<KEY>, adding entries as needed.
// Other LIENTHONG_ variables (the log level, tests') are not settings and
// are left alone.
func (l *loader) applyEnv(root *yaml.Node) {
	for _, s := range settings(reflect.TypeFor[Config](), nil) {
		name := envName(s.path...)
		if v, ok := os.LookupEnv(name); ok {
			l.setEnv(root, s, name, v)
		}
	}
	source := map[string]setting{}
	for _, s := range settings(reflect.TypeFor[SourceConfig](), nil) {
		source[strings.TrimPrefix(envName(s.path...), envPrefix)] = s
	}
	prefix := envName("sources") + "_"
	var names []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		idx, key, _ := strings.Cut(strings.TrimPrefix(name, prefix), "_")
		i, err := strconv.Atoi(idx)
		s, ok := source[key]
		if err != nil || i < 0 || i >= maxSources || !ok {
			l.problem("", origin{where: name}, "not a setting: a source's are LIENTHONG_SOURCES_<index>_<KEY>, e.g. LIENTHONG_SOURCES_0_BASE_URL")
			continue
		}
		s.path = append([]string{"sources", strconv.Itoa(i)}, s.path...)
		l.setEnv(root, s, name, os.Getenv(name))
	}
}

// setEnv sets s to the value v of the variable name.
func (l *loader) setEnv(root *yaml.Node, s setting, name, v string) {
	n, err := envNode(s.typ, v)
	if err != "" {
		l.problem(pathKey(s.path), origin{where: name}, err)
		return
	}
	l.env[n] = name
	l.setPath(root, s.path, n)
}

// envNode is the YAML a variable's value stands for: for a list, its
// comma-separated items; for a mapping (status_map), comma-separated
// KEY=VALUE pairs; else the value itself.
func envNode(t reflect.Type, v string) (*yaml.Node, string) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	switch t.Kind() {
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				n.Content = append(n.Content, str(item))
			}
		}
		return n, ""
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for pair := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, "want KEY=VALUE pairs separated by commas"
			}
			n.Content = append(n.Content, str(strings.TrimSpace(k)), &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(val)})
		}
		return n, ""
	case reflect.String:
		return str(v), "" // as given: a secret may have spaces
	}
	// Untagged, so that yaml reads it as a number, a boolean or a duration.
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(v)}, ""
}

// pathKey is the key of path: "sources[0].payment.code".
func pathKey(path []string) string {
	var key string
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			key += "[" + p + "]"
		} else {
			key = joinKey(key, p)
		}
	}
	return key
}

// setPath puts val at path under root, adding sections and source entries
// on the way: where they were set is the first variable that needed them.
// The key is replaced too, and the unset ${NAME} on the lines of what was
// there no longer count.
func (l *loader) setPath(root *yaml.Node, path []string, val *yaml.Node) {
	add := func(n *yaml.Node) *yaml.Node {
		l.env[n] = l.env[val]
		return n
	}
	n := root
	for i, seg := range path {
		var slot **yaml.Node
		if n.Kind == yaml.SequenceNode {
			idx, _ := strconv.Atoi(seg)
			for len(n.Content) <= idx {
				n.Content = append(n.Content, add(&yaml.Node{Kind: yaml.MappingNode}))
			}
			slot = &n.Content[idx]
		} else {
			j := 0
			for j+1 < len(n.Content) && n.Content[j].Value != seg {
				j += 2
			}
			if j+1 >= len(n.Content) {
				n.Content = append(n.Content, nil, nil)
				j = len(n.Content) - 2
			}
			if i == len(path)-1 || n.Content[j] == nil {
				l.forget(n.Content[j])
				n.Content[j] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: seg}
			}
			slot = &n.Content[j+1]
		}
		if i == len(path)-1 {
			l.forget(*slot)
			*slot = val
			return
		}
		want := yaml.MappingNode
		if _, err := strconv.Atoi(path[i+1]); err == nil {
			want = yaml.SequenceNode
		}
		switch {
		case *slot != nil && (*slot).Kind == yaml.AliasNode && (*slot).Alias.Kind == want:
			// A copy: the anchor's other uses keep its values.
			c := *(*slot).Alias
			c.Content = slices.Clone(c.Content)
			*slot = &c
		case *slot == nil || (*slot).Kind != want:
			*slot = add(&yaml.Node{Kind: want})
		}
		n = *slot
	}
}

// forget drops the unset variables on the lines of n, replaced.
func (l *loader) forget(n *yaml.Node) {
	if n == nil || n.Kind == yaml.AliasNode {
		return
	}
	delete(l.missing, n.Line)
	for _, c := range n.Content {
		l.forget(c)
	}
}
