package lint

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/petrelmq/petrel"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// listPackages returns every package of the module with its direct, non-test
// imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Standard", mod+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func under(path, prefix string) bool {
	p := mod + "/" + prefix
	return path == p || strings.HasPrefix(path, p+"/")
}

// rule says which imports a package may have. allowed lists module-relative
// packages with their subpackages ("pkg/x"), every package under a prefix
// ("pkg/"), or exactly one package ("=pkg/x"); external lists third-party
// prefixes; stdlib is always allowed.
type rule struct {
	name     string
	applies  func(string) bool
	allowed  []string
	external []string
}

var rules = []rule{
	{
		// pkg/ is the public API: users import it, so it cannot depend on
		// anything they cannot import.
		name:    "public packages import nothing under internal/",
		applies: func(p string) bool { return under(p, "pkg") },
		allowed: []string{"pkg/"},
		external: []string{"github.com/klauspost/compress/zstd", "github.com/pierrec/lz4/v4",
			"github.com/stretchr/testify", "golang.org/x/sys"},
	},
	{
		name: "leaf packages use only the standard library",
		applies: func(p string) bool {
			return p != mod+"/pkg/protocol/body" && !under(p, "pkg/protocol/header") &&
				(under(p, "pkg/protocol") || under(p, "pkg/message") || under(p, "pkg/clock") || under(p, "pkg/trace"))
		},
	},
	{
		// Typed views of extFields: the codes and the Command, nothing else.
		name:    "wire headers use only the standard library and protocol",
		applies: func(p string) bool { return under(p, "pkg/protocol/header") },
		allowed: []string{"=pkg/protocol", "pkg/protocol/header"},
	},
	{
		name:    "wire bodies use only the standard library, protocol and message",
		applies: func(p string) bool { return p == mod+"/pkg/protocol/body" },
		allowed: []string{"pkg/protocol", "pkg/message"},
	},
	{
		name:     "vfs uses only the standard library and x/sys",
		applies:  func(p string) bool { return under(p, "internal/vfs") },
		allowed:  []string{"internal/vfs"},
		external: []string{"golang.org/x/sys"},
	},
	{
		name:     "store uses only vfs, clock, message, metrics and itself",
		applies:  func(p string) bool { return under(p, "internal/store") && !under(p, "internal/store/storetest") },
		allowed:  []string{"internal/store", "internal/vfs", "pkg/clock", "pkg/message"},
		external: []string{"golang.org/x/sys"},
	},
	{
		// storetest is the conformance suite: test support, so it may assert.
		name:     "storetest uses the store's dependencies and testify",
		applies:  func(p string) bool { return under(p, "internal/store/storetest") },
		allowed:  []string{"internal/store", "internal/vfs", "pkg/clock", "pkg/message", "internal/testutil/poll"},
		external: []string{"golang.org/x/sys", "github.com/stretchr/testify"},
	},
	{
		name:    "remoting uses only protocol, clock and metrics",
		applies: func(p string) bool { return under(p, "pkg/remoting") },
		allowed: []string{"pkg/remoting", "pkg/protocol", "pkg/clock"},
	},
	{
		// The broker imports the controller client; it speaks the wire
		// protocol only and never reaches into the controller itself.
		name:    "the controller client uses only the public packages",
		applies: func(p string) bool { return under(p, "internal/controller/client") },
		allowed: []string{"pkg/"},
	},
	{
		// Raft is the controller's only third-party dependency: hashicorp/raft
		// with its bbolt log store and hclog logger interface.
		name:     "the controller uses properties, lifecycle, acl (aclEnable), the public packages and Raft",
		applies:  func(p string) bool { return under(p, "internal/controller") && !under(p, "internal/controller/client") },
		allowed:  []string{"internal/controller", "internal/properties", "internal/lifecycle", "internal/acl", "pkg/"},
		external: []string{"github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb/v2", "github.com/hashicorp/go-hclog", "go.etcd.io/bbolt"},
	},
	{
		// plain_acl.yml is YAML, which the standard library cannot read.
		name:     "acl uses only the public packages and the YAML parser",
		applies:  func(p string) bool { return under(p, "internal/acl") },
		allowed:  []string{"internal/acl", "pkg/"},
		external: []string{"go.yaml.in/yaml/v3", "github.com/stretchr/testify"},
	},
	{
		// `petrel bench` measures what an application gets: the SDK only.
		name:    "bench uses only the public packages",
		applies: func(p string) bool { return under(p, "internal/bench") },
		allowed: []string{"pkg/", "internal/bench"},
	},
	{
		// The metrics room knows no broker type: the broker hands it a State
		// at each scrape and calls its Recorder; the rooms declare their own
		// one-method hooks and never import it.
		name:     "metrics uses only protocol and the Prometheus client",
		applies:  func(p string) bool { return under(p, "internal/metrics") },
		allowed:  []string{"internal/metrics", "pkg/protocol"},
		external: []string{"github.com/prometheus/client_golang"},
	},
	{
		// The console is an admin tool in the binary: it reaches brokers only
		// over the wire, through pkg/admin.
		name:    "the console uses only the public packages",
		applies: func(p string) bool { return under(p, "internal/console") },
		allowed: []string{"internal/console", "pkg/"},
	},
	{
		// The codecs are the SDK's only third-party code: RocketMQ 5.x marks
		// LZ4 and ZSTD bodies and the standard library has neither.
		name:     "the client SDK never reaches into servers or storage",
		applies:  func(p string) bool { return under(p, "pkg/client") || under(p, "pkg/admin") },
		allowed:  []string{"pkg/"},
		external: []string{"github.com/klauspost/compress/zstd", "github.com/pierrec/lz4/v4"},
	},
}

// brokerRooms lists, for each room of the broker, the other rooms it may
// import (beyond the shared leaves in brokerLeaves). A room never imports the
// broker root (that would be a cycle) nor a room not listed: adding a
// dependency between rooms is a decision, made here.
var brokerRooms = map[string][]string{
	"answer":       nil,
	"stats":        nil,
	"meta":         nil,
	"longpoll":     nil,
	"subscription": nil,
	"clients":      nil,
	"registrar":    nil,
	"ha":           {"meta"},
	"delay":        {"meta"},
	"retry":        {"meta", "answer", "delay"},
	"txn":          {"meta", "answer"},
	"dedup":        nil,
	"send":         {"meta", "answer", "delay", "retry", "txn", "dedup"},
	"pull":         {"meta", "answer", "longpoll", "subscription", "stats", "clients"},
	"offset":       {"meta", "answer"},
	"query":        {"meta", "answer"},
	"admin":        {"meta", "answer", "stats", "clients"},
	"metasync":     {"meta"},
}

// brokerLeaves are the packages any broker room may import.
var brokerLeaves = []string{"internal/store", "internal/lifecycle", "internal/filter", "internal/properties",
	"internal/controller/client", "internal/vfs", "pkg/"}

// brokerRoomOf returns the room a package belongs to, or "" for the broker
// root and packages outside the broker.
func brokerRoomOf(p string) string {
	rest, ok := strings.CutPrefix(p, mod+"/internal/broker/")
	if !ok {
		return ""
	}
	room, _, _ := strings.Cut(rest, "/")
	return room
}

// roomViolation says why room pkg may not import imp, if it may not.
func roomViolation(pkg, imp string) string {
	room := brokerRoomOf(pkg)
	if room == "" || isStd(imp) || !strings.HasPrefix(imp, mod+"/") {
		return ""
	}
	allowed, known := brokerRooms[room]
	if !known {
		return "broker room " + room + " is not listed in brokerRooms (internal/lint)"
	}
	if imp == mod+"/internal/broker" {
		return "a broker room must not import the broker root"
	}
	if other := brokerRoomOf(imp); other != "" {
		if other == room {
			return ""
		}
		for _, a := range allowed {
			if a == other {
				return ""
			}
		}
		return "broker room " + room + " may not import room " + other + " (see brokerRooms)"
	}
	for _, l := range brokerLeaves {
		if strings.HasSuffix(l, "/") && strings.HasPrefix(imp, mod+"/"+l) || under(imp, l) {
			return ""
		}
	}
	return "broker room " + room + " may import only other rooms and " + strings.Join(brokerLeaves, ", ")
}

// forbidden lists packages nothing may import, except the listed importers;
// packages under target listed in open may be imported by anyone.
var forbidden = []struct {
	target  string
	exempt  []string
	comment string
	open    []string
}{
	{"internal/broker", []string{"cmd", "internal/broker", "internal/failover", "internal/testutil", "test"},
		"only cmd, the failover supervisor and the test harness wire the broker", nil},
	{"internal/namesrv", []string{"cmd", "internal/namesrv", "internal/testutil", "test"}, "only cmd and the test harness wire the name server", nil},
	{"internal/controller", []string{"cmd", "internal/controller", "internal/testutil", "test"},
		"only cmd and the test harness wire the controller (brokers use internal/controller/client)",
		[]string{"internal/controller/client"}},
	{"cmd", []string{"cmd"}, "nothing imports a command", nil},
}

// violations returns why importing imp from pkg breaks the rules, if it does.
func violations(pkg, imp string) []string {
	if isStd(imp) {
		return nil
	}
	var why []string
	if v := roomViolation(pkg, imp); v != "" {
		why = append(why, v)
	}
	for _, r := range rules {
		if !r.applies(pkg) {
			continue
		}
		ok := false
		for _, a := range r.allowed {
			if exact, isExact := strings.CutPrefix(a, "="); isExact {
				if imp == mod+"/"+exact {
					ok = true
				}
				continue
			}
			if strings.HasSuffix(a, "/") && strings.HasPrefix(imp, mod+"/"+a) || under(imp, a) {
				ok = true
			}
		}
		for _, e := range r.external {
			if imp == e || strings.HasPrefix(imp, e+"/") {
				ok = true
			}
		}
		if !ok {
			why = append(why, "breaks rule: "+r.name)
		}
	}
	for _, f := range forbidden {
		if !under(imp, f.target) || slices.ContainsFunc(f.open, func(o string) bool { return under(imp, o) }) {
			continue
		}
		exempt := false
		for _, e := range f.exempt {
			if under(pkg, e) {
				exempt = true
			}
		}
		if !exempt {
			why = append(why, f.comment)
		}
	}
	return why
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			for _, why := range violations(p.ImportPath, imp) {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
			}
		}
	}
}

// TestRulesCatchViolations checks the checker itself on made-up imports, so a
// broken matcher cannot pass silently.
func TestRulesCatchViolations(t *testing.T) {
	cases := []struct {
		pkg, imp string
		bad      bool
	}{
		{mod + "/internal/store/commitlog", mod + "/pkg/remoting", true},
		{mod + "/internal/store/commitlog", mod + "/internal/vfs", false},
		{mod + "/internal/store/storetest", "github.com/stretchr/testify/require", false},
		{mod + "/internal/store", "github.com/stretchr/testify/require", true},
		{mod + "/pkg/protocol", "github.com/some/dep", true},
		{mod + "/pkg/protocol", "encoding/json", false},
		{mod + "/pkg/protocol/body", mod + "/pkg/message", false},
		{mod + "/pkg/protocol", mod + "/pkg/message", true},
		{mod + "/pkg/protocol/header", mod + "/pkg/protocol", false},
		{mod + "/pkg/protocol/header", mod + "/pkg/message", true},
		{mod + "/pkg/protocol/header", mod + "/pkg/protocol/body", true},
		{mod + "/pkg/protocol/header", "github.com/some/dep", true},
		{mod + "/pkg/remoting", mod + "/pkg/protocol", false},
		{mod + "/pkg/remoting", mod + "/internal/store", true},
		{mod + "/pkg/client", mod + "/internal/vfs", true},
		{mod + "/pkg/admin", mod + "/pkg/clock", false},
		{mod + "/pkg/client/producer", mod + "/internal/store", true},
		{mod + "/pkg/client/producer", mod + "/pkg/message", false},
		{mod + "/pkg/client", "github.com/pierrec/lz4/v4", false},
		{mod + "/pkg/client", "github.com/some/other", true},
		{mod + "/internal/broker", mod + "/internal/namesrv", true},
		{mod + "/internal/broker/ha", mod + "/internal/broker", true},
		{mod + "/internal/broker/ha", mod + "/internal/store", false},
		{mod + "/internal/broker/ha", mod + "/pkg/remoting", false},
		{mod + "/internal/broker/ha", mod + "/internal/namesrv", true},
		{mod + "/cmd/petrel", mod + "/internal/namesrv", false},
		{mod + "/internal/broker/send", mod + "/internal/broker/txn", false},
		{mod + "/internal/broker/txn", mod + "/internal/broker/send", true},
		{mod + "/internal/broker/pull", mod + "/internal/broker", true},
		{mod + "/internal/broker/meta", mod + "/internal/remoting", true},
		{mod + "/internal/broker/longpoll", mod + "/pkg/clock", false},
		{mod + "/internal/broker/newroom", mod + "/pkg/clock", true},
		{mod + "/internal/store", mod + "/pkg/remoting", true},
		{mod + "/internal/store", mod + "/internal/broker/meta", true},
		{mod + "/internal/broker/ha", mod + "/internal/controller/client", false},
		{mod + "/internal/broker/ha", mod + "/internal/controller", true},
		{mod + "/internal/namesrv", mod + "/internal/controller", true},
		{mod + "/cmd/petrel", mod + "/internal/controller", false},
		{mod + "/internal/controller/client", mod + "/internal/controller", true},
		{mod + "/internal/controller/client", mod + "/pkg/remoting", false},
		{mod + "/internal/controller", "github.com/hashicorp/raft", false},
		{mod + "/internal/controller", mod + "/internal/store", true},
		{mod + "/pkg/admin", "github.com/hashicorp/raft", true},
	}
	for _, c := range cases {
		if bad := len(violations(c.pkg, c.imp)) > 0; bad != c.bad {
			t.Errorf("%s -> %s: violation=%v, want %v", c.pkg, c.imp, bad, c.bad)
		}
	}
}
