package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// launch runs every simulator of portalsim on free ports and returns each
// HTTP simulator's URL by name, the SMTP host:port as "smtp", and a function
// that stops it and returns run's error.
func launch(t *testing.T, args ...string) (map[string]string, *syncBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{
			"-sonla-addr", "127.0.0.1:0", "-thainguyen-addr", "127.0.0.1:0",
			"-hatinh-addr", "127.0.0.1:0", "-national-addr", "127.0.0.1:0",
			"-payment-addr", "127.0.0.1:0", "-vnpost-addr", "127.0.0.1:0", "-sms-addr", "127.0.0.1:0",
			"-mail-addr", "127.0.0.1:0", "-smtp-addr", "127.0.0.1:0",
		}, args...), &logs)
	}()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not stop")
			return nil
		}
	}
	re := regexp.MustCompile(`(\w+) listening on (http|smtp)://(\S+)`)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			cancel()
			return nil, &logs, func() error { return err }
		default:
		}
		if m := re.FindAllStringSubmatch(logs.String(), -1); len(m) == 9 {
			urls := map[string]string{}
			for _, x := range m {
				if x[2] == "smtp" {
					urls["smtp"] = x[3]
				} else {
					urls[x[1]] = "http://" + x[3]
				}
			}
			return urls, &logs, stop
		}
	}
	stop()
	t.Fatalf("servers did not start:\n%s", logs.String())
	return nil, nil, nil
}

func fetch(t *testing.T, method, u, body string, hdr ...string) string {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, u, resp.StatusCode, b)
	}
	return string(b)
}

// world is what a hub would see of the simulators.
func world(t *testing.T, urls map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{"sonla", "thainguyen", "hatinh", "national"} {
		out[name+" dossiers"] = fetch(t, "GET", urls[name]+"/_sim/dossiers", "")
		out[name+" stats"] = fetch(t, "GET", urls[name]+"/_sim/stats", "")
	}
	out["hatinh feed"] = fetch(t, "GET", urls["hatinh"]+"/dvc/api/dongbo?tuSeq=0&gioiHan=1000", "", "X-API-Key", "hub-key")
	out["payment transactions"] = fetch(t, "GET", urls["payment"]+"/_sim/transactions", "")
	out["vnpost orders"] = fetch(t, "GET", urls["vnpost"]+"/_sim/orders", "")
	out["sms messages"] = fetch(t, "GET", urls["sms"]+"/_sim/messages", "")
	out["mail"] = fetch(t, "GET", urls["mail"]+"/_sim/mail", "")
	return out
}

// sendSMS sends one SMS with the default credentials and returns the answer.
func sendSMS(t *testing.T, u, requestID string) string {
	t.Helper()
	return fetch(t, "POST", u+"/api/sms/send", `{"phone":"84912345678","message":"Ho so da co ket qua","brandname":"DICHVUCONG","requestId":"`+requestID+`"}`,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hub:hub-secret")))
}

func TestStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	urls, logs, stop := launch(t, "-state-dir", dir, "-generate", "4", "-steps", "2")
	sess := fetch(t, "POST", urls["national"]+"/api/auth/login", `{"username":"hub","password":"hub-secret"}`, "dstcode", "000.00.19.H55")
	tok := regexp.MustCompile(`"session":"(\w+)"`).FindStringSubmatch(sess)[1]
	// An item the national portal accepts: it must survive the restart.
	item := `{"MaHoSo":"P-1","MaTTHC":"1.000894","TenTTHC":"Đăng ký khai sinh","MaLinhVuc":"HT","TenLinhVuc":"Hộ tịch","KenhThucHien":"2","ChuHoSo":"Lò Văn Minh","LoaiDoiTuong":"1","SoGiayTo":"014095001234","MaTinh":"14","MaXa":"03646","TrichYeuHoSo":"Khai sinh","NgayNopHoSo":"20261121075840","NgayTiepNhan":"20261121080211","NgayHenTra":"20261126170000","TrangThaiHoSo":"4","HinhThuc":"1"}`
	res := fetch(t, "POST", urls["national"]+"/api/integration", `{"session":"`+tok+`","madonvi":"000.00.19.H55","service":"DongBoHoSoMC","isUpdating":"False","data":[`+item+`]}`, "dstcode", "000.00.19.H55")
	if !strings.Contains(res, `"result":[{"MaHoSo":"P-1","error_code":"00"`) {
		t.Fatalf("push: %s", res)
	}
	// An SMS and a mail: they must survive the restart too.
	sms := sendSMS(t, urls["sms"], "r-1")
	if err := sendMail(urls["smtp"], nil, "Kết quả hồ sơ P-1"); err != nil {
		t.Fatalf("send mail: %v", err)
	}
	before := world(t, urls)
	if !strings.Contains(before["sms messages"], `"requestId":"r-1"`) || !strings.Contains(before["mail"], `"subject":"Kết quả hồ sơ P-1"`) {
		t.Fatalf("sms %s\nmail %s", before["sms messages"], before["mail"])
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "hatinh.state mail.state national.state payment.state sms.state sonla.state thainguyen.state vnpost.state" {
		t.Fatalf("state dir holds %v", names)
	}

	// Restarted with the same flags: the same world, nothing generated again.
	urls, logs, stop = launch(t, "-state-dir", dir, "-generate", "4", "-steps", "2")
	after := world(t, urls)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs after restart\nbefore: %s\nafter:  %s", k, v, after[k])
		}
	}
	if !strings.Contains(logs.String(), "sonla: restored state from") || !strings.Contains(logs.String(), "sonla: state restored, not generating") ||
		!strings.Contains(logs.String(), "mail: restored state from") {
		t.Errorf("log:\n%s", logs.String())
	}
	// The SMS gateway still knows the requestId: a repeat is a duplicate with
	// the same messageId.
	if again := sendSMS(t, urls["sms"], "r-1"); again != sms {
		t.Errorf("repeated SMS after restart: %s, first %s", again, sms)
	}
	res = fetch(t, "POST", urls["national"]+"/api/integration", `{"session":"`+tok+`","madonvi":"000.00.19.H55","service":"DongBoHoSoMC","isUpdating":"False","data":[`+item+`]}`, "dstcode", "000.00.19.H55")
	if !strings.Contains(res, `"error_code":"98"`) {
		t.Errorf("old session after restart: %s", res)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}

	// A broken state file stops the start with a clear error and is kept.
	if err := os.WriteFile(filepath.Join(dir, "hatinh.state"), []byte("lienthong-sim-state hatinh 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, stop = launch(t, "-state-dir", dir)
	if err := stop(); err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Errorf("broken state file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hatinh.state")); string(b) != "lienthong-sim-state hatinh 99\n" {
		t.Error("the broken state file was overwritten")
	}
}

func TestSaveStateLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	services := build(options{sonlaAddr: "x", seed: 1})
	defer services[0].sim.Close()
	if err := os.WriteFile(statePath(dir, "sonla"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, service{name: "sonla", sim: failing{services[0].sim}}); err == nil {
		t.Fatal("failing snapshot saved")
	}
	if b, _ := os.ReadFile(statePath(dir, "sonla")); string(b) != "old" {
		t.Errorf("a failed save replaced the state file: %q", b)
	}
	if err := saveState(dir, services[0]); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "sonla.state" {
		t.Errorf("dir holds %v", entries)
	}
}

// failing is a simulator whose snapshot fails half-way.
type failing struct{ simulator }

func (f failing) Snapshot(w io.Writer) error {
	_, _ = w.Write([]byte("partial"))
	return io.ErrShortWrite
}
