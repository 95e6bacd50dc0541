package simctl

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stateMagic starts every simulator state file: one text line
// "lienthong-sim-state <system> <version>\n", then the state encoded with
// encoding/gob, gzip-compressed (the gzip checksum also catches a damaged
// file).
const stateMagic = "lienthong-sim-state"

// WriteState writes the header line for system and format version, then v
// encoded with encoding/gob and gzip-compressed.
func WriteState(w io.Writer, system string, version int, v any) error {
	bw := bufio.NewWriter(w)
	if _, err := fmt.Fprintf(bw, "%s %s %d\n", stateMagic, system, version); err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(zw).Encode(v); err != nil {
		return fmt.Errorf("%s state: %w", system, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// ReadState checks the header written by WriteState, refusing a file of
// another system or another format version with an error that says so, and
// decodes the state into v.
func ReadState(r io.Reader, system string, version int, v any) error {
	br := bufio.NewReader(r)
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("%s state: not a simulator state file (no %q header)", system, stateMagic)
		}
		return fmt.Errorf("%s state: %w", system, err)
	}
	f := strings.Fields(string(bytes.TrimSpace(line)))
	if len(f) != 3 || f[0] != stateMagic {
		return fmt.Errorf("%s state: not a simulator state file (no %q header)", system, stateMagic)
	}
	if f[1] != system {
		return fmt.Errorf("%s state: the file holds the state of %q", system, f[1])
	}
	got, err := strconv.Atoi(f[2])
	if err != nil {
		return fmt.Errorf("%s state: bad format version %q", system, f[2])
	}
	if got != version {
		return fmt.Errorf("%s state: format version %d, this build reads version %d only (remove the file to start empty)", system, got, version)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return fmt.Errorf("%s state: %w", system, err)
	}
	if err := gob.NewDecoder(zr).Decode(v); err != nil {
		return fmt.Errorf("%s state: %w", system, err)
	}
	if _, err := io.Copy(io.Discard, zr); err != nil { // checks the gzip checksum
		return fmt.Errorf("%s state: %w", system, err)
	}
	return nil
}

// SaveStateFile writes a snapshot to path atomically: into a temporary file in
// the same directory (created if missing), synced, then renamed over path, so
// a crash at any point leaves either the old file or the new one, never a
// torn one. snapshot is a simulator's Snapshot method.
func SaveStateFile(path string, snapshot func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := snapshot(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadStateFile restores from the file at path with restore (a simulator's
// Restore method); found is false, with no error, when there is no file.
func LoadStateFile(path string, restore func(io.Reader) error) (found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := restore(bufio.NewReaderSize(f, 1<<20)); err != nil {
		return true, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}
