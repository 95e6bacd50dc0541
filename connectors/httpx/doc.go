// Package httpx holds what the provincial connectors (sonla, thainguyen,
// hatinh) and the national one share: the Page and Event types their Pull
// and Writeback speak, error classification (transient vs permanent), a
// bounded HTTP round trip, the client-credentials bearer token (Sơn La, and
// VNPost besides), charset decoding, and the time-keyset pager that Sơn La
// and Thái Nguyên both need. XML answers are read with internal/xmltree.
package httpx
