package vfs

import (
	"path/filepath"
	"testing"
)

func TestOSWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kv.json")
	for _, want := range []string{"first", "second, longer content"} {
		if err := WriteFileAtomic(OS, p, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(OS, p)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFile = %q, %v; want %q", got, err, want)
		}
	}
	names, err := OS.List(dir)
	if err != nil || len(names) != 1 || names[0] != "kv.json" {
		t.Fatalf("List = %v, %v; want only kv.json (no temp left)", names, err)
	}
}

func TestOSLockExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	l, err := OS.Lock(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OS.Lock(p); err == nil {
		t.Fatal("second Lock succeeded while the first is held")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := OS.Lock(p)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	l2.Close()
}

// TestOSSpace: statfs figures are consistent, and the ratio is df's.
func TestOSSpace(t *testing.T) {
	sp, err := osFS{}.Space(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if sp.Total == 0 || sp.Free > sp.Total || sp.Avail > sp.Free {
		t.Fatalf("Space = %+v: want 0 < Total, Avail <= Free <= Total", sp)
	}
	if r := sp.UsedRatio(); r < 0 || r > 1 {
		t.Fatalf("UsedRatio = %v", r)
	}
	if _, err := (osFS{}).Space(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Space of a missing path succeeded")
	}
}
