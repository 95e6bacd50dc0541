package storetest

import "testing"

func TestInDump(t *testing.T) {
	// A phone number inside random ciphertext hex is chance, not a leak.
	if got := InDump([]byte("COPY ledger\nD-1\t\\x01ab09123456789f\n"), "0912345678"); len(got) != 0 {
		t.Fatalf("found %v inside hex ciphertext", got)
	}
	// Stored in clear as text, or in clear in a binary column: found.
	if got := InDump([]byte("COPY events\nD-1\tphone 0912345678\n"), "0912345678"); len(got) != 1 {
		t.Fatalf("missed a value in clear text")
	}
	if got := InDump([]byte("COPY ledger\nD-1\t\\x3039313233343536373800\n"), "0912345678"); len(got) != 1 {
		t.Fatalf("missed a value in clear in a binary column")
	}
}
