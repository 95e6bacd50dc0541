package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("PORTALSIM_HATINH_API_KEY", "from-env")
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.sonlaAddr != "127.0.0.1:18081" || o.thainguyenAddr != "127.0.0.1:18082" || o.hatinhAddr != "127.0.0.1:18083" || o.nationalAddr != "127.0.0.1:18090" {
		t.Errorf("default addresses %+v", o)
	}
	if o.htAPIKey != "from-env" {
		t.Errorf("env credential %q", o.htAPIKey)
	}
	o, err = parseFlags([]string{"-hatinh-api-key", "flag", "-generate", "5", "-seed", "9", "-steps", "2"}, io.Discard)
	if err != nil || o.htAPIKey != "flag" || o.generate != 5 || o.seed != 9 || o.steps != 2 {
		t.Errorf("flags %+v %v", o, err)
	}
	for _, bad := range [][]string{{"-hatinh-charset", "latin1"}, {"-thainguyen-prefix", "soap"}, {"-thainguyen-prefix", "a b"}, {"-generate", "-1"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// syncBuffer is a log sink safe for the server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesAllFour(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-sonla-addr", "127.0.0.1:0", "-thainguyen-addr", "127.0.0.1:0",
			"-hatinh-addr", "127.0.0.1:0", "-national-addr", "127.0.0.1:0",
			"-generate", "3", "-steps", "2", "-hatinh-charset", "windows-1258",
		}, &logs)
	}()
	re := regexp.MustCompile(`(\w+) listening on (http://\S+)`)
	var urls map[string]string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m := re.FindAllStringSubmatch(logs.String(), -1)
		if len(m) == 4 {
			urls = map[string]string{}
			for _, x := range m {
				urls[x[1]] = x[2]
			}
			break
		}
	}
	if urls == nil {
		t.Fatalf("servers did not start:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "hatinh: generated 3 dossiers") {
		t.Errorf("generation not logged:\n%s", logs.String())
	}
	for name, u := range urls {
		resp, err := http.Get(u + "/_sim/health")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s health: %v", name, err)
			continue
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", urls["hatinh"]+"/dvc/api/dongbo", nil)
	req.Header.Set("X-API-Key", "hub-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.Header.Get("Content-Type") != "application/xml; charset=windows-1258" {
		t.Errorf("hatinh feed: %v %v", err, resp.Header)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
