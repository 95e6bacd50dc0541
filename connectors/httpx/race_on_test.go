//go:build race

package httpx_test

// The race detector slows the model test tenfold; fewer seeds there.
const randomSeeds = 80
