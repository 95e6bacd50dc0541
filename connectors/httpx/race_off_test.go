//go:build !race

package httpx_test

const randomSeeds = 500
