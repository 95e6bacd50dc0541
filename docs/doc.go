// Package docs holds the hub's own description of every interface it
// implements, as Markdown pages for the people who run the systems at the
// other end: docs/README.md is the index, docs/provinces/ has one page per
// interface kind of provincial portal, docs/targets/ one page per system the
// hub sends to, and docs/operator-api.md points at the operator API.
//
// The package has no code. Its test keeps the pages honest: every connector
// has a page that names it, every interface kind has its page, every
// relative link in the README and the pages resolves inside the repository,
// neither points at a contract kept outside it, every `sources[].key` the
// pages mention is a real configuration key, and every YAML example decodes
// as the hub's configuration.
package docs
