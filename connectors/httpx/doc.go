// Package httpx holds what the three provincial connectors (sonla,
// thainguyen, hatinh) share: the Page and Event types their Pull and
// Writeback speak, error classification (transient vs permanent), a bounded
// HTTP round trip, the client-credentials bearer token (Sơn La, and VNPost
// besides), charset decoding, a small prefix-preserving XML tree, and
// the time-keyset pager that Sơn La and Thái Nguyên both need.
package httpx
