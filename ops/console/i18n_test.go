package console

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// dictionary reads i18n.js: one entry a line, 'key': ['Vietnamese', 'English'],
// Every line of the dictionary's body must be an entry, a comment or blank,
// so that an entry written otherwise (one language only, a third one) fails.
func dictionary(t *testing.T) map[string][2]string {
	t.Helper()
	b, err := web.ReadFile("web/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	start := strings.Index(src, "const LIENTHONG_I18N = {\n")
	end := strings.LastIndex(src, "\n};")
	if start < 0 || end < start {
		t.Fatal("i18n.js: no `const LIENTHONG_I18N = {` … `};`")
	}
	str := `'((?:[^'\\]|\\.)*)'`
	entry := regexp.MustCompile(`^\s*` + str + `:\s*\[` + str + `,\s*` + str + `\],$`)
	dict := map[string][2]string{}
	for i, line := range strings.Split(src[start+len("const LIENTHONG_I18N = {\n"):end], "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "//") {
			continue
		}
		m := entry.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("i18n.js: dictionary line %d is not 'key': ['vi', 'en'],: %s", i+1, trimmed)
			continue
		}
		if _, dup := dict[m[1]]; dup {
			t.Errorf("i18n.js: key %q twice", m[1])
		}
		dict[m[1]] = [2]string{m[2], m[3]}
	}
	if len(dict) < 50 {
		t.Fatalf("i18n.js: %d entries read; the format changed?", len(dict))
	}
	return dict
}

// Every entry has both languages, with the same {placeholders}; Vietnamese
// is written with its diacritics somewhere (not ASCII throughout).
func TestI18nDictionary(t *testing.T) {
	dict := dictionary(t)
	ph := regexp.MustCompile(`\{\w+\}`)
	placeholders := func(s string) string {
		p := ph.FindAllString(s, -1)
		sort.Strings(p)
		return strings.Join(p, " ")
	}
	accented := 0
	for k, v := range dict {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("key %q: a language is empty: %q", k, v)
		}
		if placeholders(v[0]) != placeholders(v[1]) {
			t.Errorf("key %q: placeholders differ: vi %q, en %q", k, v[0], v[1])
		}
		for _, r := range v[0] {
			if r > 127 {
				accented++
				break
			}
		}
	}
	if accented < len(dict)/2 {
		t.Errorf("only %d of %d Vietnamese texts have a non-ASCII letter: untranslated?", accented, len(dict))
	}
}

// Every key index.html (data-i18n…) and app.js (t('…'), tOr('…'), label
// and empty keys) use is in the dictionary.
func TestI18nKeys(t *testing.T) {
	dict := dictionary(t)
	page, _ := web.ReadFile("web/index.html")
	app, _ := web.ReadFile("web/app.js")
	used := map[string]string{}
	for _, m := range regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		used[m[1]] = "index.html"
	}
	for _, re := range []string{
		`\bt\('([^']+)'`,                               // t('key'…)
		`\btOr\('([^']+)'`,                             // tOr('key', …): prefixes ending in . are dynamic
		`label: '([^']+)'`,                             // a table column's header
		`empty: '([^']+)'`,                             // a PagedTable's empty line
		`'data-i18n[a-z-]*': '([^']+)'`,                // made by app.js
		`\[\s*'[a-z0-9-]+',\s*[A-Z0-9_]+,\s*'([^']+)'`, // level 4's lists: [id, cols, empty key, …]
		`\['(rec\.[A-Za-z]+)',`,                        // the record's rows
		`'(fee\.[a-z]+)'`,                              // the fee table's headers
	} {
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(string(app), -1) {
			if !strings.HasSuffix(m[1], ".") {
				used[m[1]] = "app.js"
			}
		}
	}
	// Keys made from API values must exist for every value the console knows.
	for _, prefix := range []string{"state.", "breaker.", "pay.", "status.", "channel.", "role.", "delivery.", "drift.kind.", "drift.state."} {
		n := 0
		for k := range dict {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no dictionary key %s…", prefix)
		}
	}
	for _, k := range []string{"pay.online", "pay.office", "pay.cod", "delivery.office", "delivery.post", "delivery.online", "q.cond.source", "q.cond.field", "q.cond.reason", "q.cond.dossier",
		"dr.cond.source", "dr.cond.kind", "drift.kind.missing_at_national", "drift.kind.older_status", "drift.kind.field_differs",
		"drift.kind.unknown_to_hub", "drift.state.open", "drift.state.resyncing", "drift.state.resolved"} {
		used[k] = "app.js (made)"
	}
	if len(used) < 100 {
		t.Errorf("only %d keys found in use; the patterns no longer match?", len(used))
	}
	for k, where := range used {
		if _, ok := dict[k]; !ok {
			t.Errorf("%s uses key %q: not in i18n.js", where, k)
		}
	}
	t.Logf("%d keys in use, %d in the dictionary", len(used), len(dict))
}
