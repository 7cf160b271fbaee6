package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const testTimeout = 10 * time.Second

// history checks the invariants that span commands: per set, epochs only
// grow, at most one master per epoch, and no election outside the
// SyncStateSet unless the command says unclean. It also checks each set's
// own invariants (BrokerSet.Check) after every command.
type history struct {
	epoch   map[SetKey]int32
	ssEpoch map[SetKey]int32
	masters map[SetKey]map[int32]int64
}

func newHistory() *history {
	return &history{epoch: map[SetKey]int32{}, ssEpoch: map[SetKey]int32{}, masters: map[SetKey]map[int32]int64{}}
}

// apply applies cmd to c and checks the invariants against the state before.
func (h *history) apply(t testing.TB, c *Core, cmd Command) Result {
	t.Helper()
	before, existed := c.State.Set(cmd.Set)
	r := c.Apply(cmd)
	if r.Err != nil {
		after, _ := c.State.Set(cmd.Set)
		require.Equal(t, before, after, "a refused command changed the state")
		return r
	}
	if cmd.Op == OpElect && existed && r.MasterChanged && cmd.Elect.NewMaster != NoMaster && !cmd.Elect.Unclean {
		require.True(t, before.Electable(cmd.Elect.NewMaster), "clean election of %d outside SyncStateSet %v",
			cmd.Elect.NewMaster, before.SyncStateSet)
	}
	if r.Set == nil {
		return r
	}
	bs := r.Set
	require.NoError(t, bs.Check())
	k := bs.Key
	require.GreaterOrEqual(t, bs.Epoch, h.epoch[k], "%s: master epoch went back", k)
	require.GreaterOrEqual(t, bs.SyncStateSetEpoch, h.ssEpoch[k], "%s: SyncStateSet epoch went back", k)
	if r.MasterChanged {
		require.Greater(t, bs.Epoch, h.epoch[k], "%s: master changed without a new epoch", k)
	}
	h.epoch[k], h.ssEpoch[k] = bs.Epoch, bs.SyncStateSetEpoch
	if bs.Master != NoMaster {
		if h.masters[k] == nil {
			h.masters[k] = map[int32]int64{}
		}
		if m, ok := h.masters[k][bs.Epoch]; ok {
			require.Equal(t, m, bs.Master, "%s: two masters in epoch %d", k, bs.Epoch)
		}
		h.masters[k][bs.Epoch] = bs.Master
	}
	return r
}

// TestCore runs the datadriven scripts in testdata/core against a Core acting
// as the leader: every decision is applied at once, as if Raft committed it.
// Commands (at= is the time since t0, default 0s; set= is cluster/name,
// default c/b):
//
//	policy [unclean]                     set enableElectUncleanMaster
//	register id= addr= [ha=] [prio=] [offset=] [epoch=] [timeout=]
//	                                     a registration, then the election it may trigger
//	beat id= [addr=] [offset=] [epoch=] [timeout=]
//	scan                                 the leader's periodic election check
//	elect id=                            an operator's electMaster
//	alter master= epoch= sync-epoch= ids=0,1
//	clean ids=1,2 [living]
//	apply op=elect expect= master= [unclean] | op=alter master= epoch= sync-epoch= ids=
//	                                     a raw command, as a stale or repeated proposal would be
//	lead                                 a new leadership: the tracker restarts
//	show [all]                           the set (all: every set)
//
// Every applied command is checked against the invariants (history).
func TestCore(t *testing.T) {
	datadriven.Walk(t, "testdata/core", func(t *testing.T, path string) {
		c := NewCore(Policy{}, testTimeout, t0)
		h := newHistory()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return runCoreCmd(t, c, h, d)
		})
	})
}

func arg(t *testing.T, d *datadriven.TestData, key, def string) string {
	t.Helper()
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func intArg(t *testing.T, d *datadriven.TestData, key, def string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(arg(t, d, key, def), 10, 64)
	require.NoError(t, err)
	return v
}

func durArg(t *testing.T, d *datadriven.TestData, key, def string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(arg(t, d, key, def))
	require.NoError(t, err)
	return v
}

func idsArg(t *testing.T, d *datadriven.TestData, key string) []int64 {
	t.Helper()
	var ids []int64
	for _, f := range strings.Split(arg(t, d, key, ""), ",") {
		if f == "" {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		require.NoError(t, err)
		ids = append(ids, v)
	}
	return ids
}

func setArg(t *testing.T, d *datadriven.TestData) SetKey {
	cluster, name, ok := strings.Cut(arg(t, d, "set", "c/b"), "/")
	require.True(t, ok, "set= is cluster/name")
	return SetKey{cluster, name}
}

func reportArg(t *testing.T, d *datadriven.TestData, addr string) Report {
	return Report{
		Addr:      arg(t, d, "addr", addr),
		Epoch:     int32(intArg(t, d, "epoch", "0")),
		MaxOffset: intArg(t, d, "offset", "0"),
		Timeout:   durArg(t, d, "timeout", "0s"),
	}
}

func fmtErr(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("refused %s: %s", pe.Code, pe.Remark)
	}
	return "error: " + err.Error()
}

func fmtCmd(c Command) string {
	switch c.Op {
	case OpRegister:
		r := c.Register.Replica
		return fmt.Sprintf("register %s id=%d addr=%s ha=%s prio=%d", c.Set, r.ID, r.Addr, r.HAAddr, r.Priority)
	case OpElect:
		e := c.Elect
		s := fmt.Sprintf("elect %s expect=%d master=%d", c.Set, e.ExpectEpoch, e.NewMaster)
		if e.Unclean {
			s += " unclean"
		}
		if e.Reason != "" {
			s += " (" + e.Reason + ")"
		}
		return s
	case OpAlter:
		a := c.Alter
		return fmt.Sprintf("alter %s master=%d epoch=%d sync-epoch=%d set=%v", c.Set, a.Master, a.MasterEpoch, a.SyncStateSetEpoch, a.NewSyncStateSet)
	case OpClean:
		return fmt.Sprintf("clean %s ids=%v", c.Set, c.Clean.IDs)
	}
	return string(c.Op)
}

func fmtSet(bs *BrokerSet) string {
	if bs == nil {
		return "set gone"
	}
	return fmt.Sprintf("master=%d epoch=%d sync=%v sync-epoch=%d", bs.Master, bs.Epoch, bs.SyncStateSet, bs.SyncStateSetEpoch)
}

// propose applies cmd as if committed and describes it and its result.
func propose(t *testing.T, c *Core, h *history, cmd Command, b *strings.Builder) {
	r := h.apply(t, c, cmd)
	fmt.Fprintf(b, "%s\n", fmtCmd(cmd))
	switch {
	case r.Err != nil:
		fmt.Fprintf(b, "  %s\n", fmtErr(r.Err))
	case !r.Changed:
		fmt.Fprintf(b, "  no change: %s\n", fmtSet(r.Set))
	default:
		fmt.Fprintf(b, "  ok: %s\n", fmtSet(r.Set))
	}
}

func runCoreCmd(t *testing.T, c *Core, h *history, d *datadriven.TestData) string {
	now := t0.Add(durArg(t, d, "at", "0s"))
	k := setArg(t, d)
	var b strings.Builder
	switch d.Cmd {
	case "policy":
		c.Policy.AllowUnclean = d.HasArg("unclean")
		return fmt.Sprintf("unclean=%v", c.Policy.AllowUnclean)
	case "register":
		id := intArg(t, d, "id", "0")
		addr := arg(t, d, "addr", "a"+strconv.FormatInt(id, 10))
		r := Replica{ID: id, Addr: addr, HAAddr: arg(t, d, "ha", ""), Priority: int32(intArg(t, d, "prio", "0"))}
		if cmd := c.Register(k, r, reportArg(t, d, addr), now); cmd != nil {
			propose(t, c, h, *cmd, &b)
		}
		if cmd := c.DecideElection(k, now); cmd != nil {
			propose(t, c, h, *cmd, &b)
		}
	case "beat":
		id := intArg(t, d, "id", "0")
		if err := c.Heartbeat(ReplicaKey{k, id}, reportArg(t, d, "a"+strconv.FormatInt(id, 10)), now); err != nil {
			return fmtErr(err)
		}
		return "ok"
	case "scan":
		for _, cmd := range c.Scan(now) {
			propose(t, c, h, cmd, &b)
		}
	case "elect":
		cmd, err := c.DecideElect(k, intArg(t, d, "id", "0"), now)
		if err != nil {
			return fmtErr(err)
		}
		if cmd == nil {
			return "already master"
		}
		propose(t, c, h, *cmd, &b)
	case "alter":
		cmd, err := c.DecideAlter(k, AlterCmd{
			Master: intArg(t, d, "master", "0"), MasterEpoch: int32(intArg(t, d, "epoch", "0")),
			SyncStateSetEpoch: int32(intArg(t, d, "sync-epoch", "0")), NewSyncStateSet: idsArg(t, d, "ids"),
		}, now)
		if err != nil {
			return fmtErr(err)
		}
		if cmd == nil {
			return "no change"
		}
		propose(t, c, h, *cmd, &b)
	case "clean":
		cmd, err := c.DecideClean(k, idsArg(t, d, "ids"), d.HasArg("living"), now)
		if err != nil {
			return fmtErr(err)
		}
		propose(t, c, h, *cmd, &b)
	case "apply":
		cmd := Command{Set: k}
		switch op := arg(t, d, "op", ""); op {
		case "elect":
			cmd.Op = OpElect
			cmd.Elect = &ElectCmd{ExpectEpoch: int32(intArg(t, d, "expect", "0")), NewMaster: intArg(t, d, "master", "0"),
				Unclean: d.HasArg("unclean")}
		case "alter":
			cmd.Op = OpAlter
			cmd.Alter = &AlterCmd{Master: intArg(t, d, "master", "0"), MasterEpoch: int32(intArg(t, d, "epoch", "0")),
				SyncStateSetEpoch: int32(intArg(t, d, "sync-epoch", "0")), NewSyncStateSet: idsArg(t, d, "ids")}
		default:
			t.Fatalf("apply: unknown op %q", op)
		}
		propose(t, c, h, cmd, &b)
	case "lead":
		c.Live.Reset(now)
		return "new leadership at " + now.Sub(t0).String()
	case "show":
		keys := []SetKey{k}
		if d.HasArg("all") {
			keys = c.State.Keys()
		}
		for _, k := range keys {
			ri, err := c.Info(k, now)
			if err != nil {
				fmt.Fprintf(&b, "%s\n", fmtErr(err))
				continue
			}
			fmt.Fprintf(&b, "%s/%s master=%d addr=%s ha=%s epoch=%d sync=%v sync-epoch=%d\n", ri.ClusterName, ri.BrokerName,
				ri.MasterBrokerID, ri.MasterAddress, ri.MasterHAAddress, ri.MasterEpoch, ri.SyncStateSet, ri.SyncStateSetEpoch)
			for _, m := range ri.Replicas {
				fmt.Fprintf(&b, "  %d %s alive=%v in-sync=%v prio=%d", m.BrokerID, m.BrokerAddress, m.Alive, m.InSyncStateSet, m.ElectionPriority)
				if m.Reported {
					fmt.Fprintf(&b, " epoch=%d offset=%d ago=%dms", m.Epoch, m.MaxOffset, m.LastHeartbeatAgoMillis)
				}
				b.WriteString("\n")
			}
		}
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}

// TestCoreRandom drives a Core with random registrations, heartbeats, time,
// leader changes, operator elections, master alterations and stale
// proposals, and checks the invariants after every applied command. Run with
// -seed to replay.
func TestCoreRandom(t *testing.T) {
	t.Parallel()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range 50 {
		c := NewCore(Policy{AllowUnclean: rng.IntN(4) == 0}, testTimeout, t0)
		h := newHistory()
		now := t0
		keys := []SetKey{{"c", "a"}, {"c", "b"}}
		up := map[ReplicaKey]bool{}
		offset := map[ReplicaKey]int64{}
		var stale []Command
		do := func(cmd *Command) {
			if cmd == nil {
				return
			}
			if rng.IntN(5) == 0 {
				stale = append(stale, *cmd) // proposed again later
			}
			h.apply(t, c, *cmd)
		}
		for range 300 {
			k := keys[rng.IntN(len(keys))]
			id := int64(rng.IntN(3))
			rk := ReplicaKey{k, id}
			switch x := rng.IntN(100); {
			case x < 10: // a replica (re)starts and registers
				up[rk] = true
				offset[rk] += int64(rng.IntN(100))
				do(c.Register(k, Replica{ID: id, Addr: fmt.Sprint("a", id), Priority: int32(rng.IntN(2))},
					Report{Addr: fmt.Sprint("a", id), MaxOffset: offset[rk]}, now))
				do(c.DecideElection(k, now))
			case x < 45: // live replicas heartbeat
				for rk, ok := range up {
					if ok {
						offset[rk] += int64(rng.IntN(10))
						_ = c.Heartbeat(rk, Report{Addr: fmt.Sprint("a", rk.ID), MaxOffset: offset[rk]}, now)
					}
				}
			case x < 55: // a replica dies
				up[rk] = false
			case x < 70: // time passes, the leader scans
				now = now.Add(time.Duration(rng.IntN(6)) * time.Second)
				for _, cmd := range c.Scan(now) {
					do(&cmd)
				}
			case x < 78: // the master shrinks or grows its SyncStateSet
				bs, ok := c.State.Set(k)
				if !ok || bs.Master == NoMaster {
					continue
				}
				set := []int64{bs.Master}
				for other := range int64(3) {
					if other != bs.Master && rng.IntN(2) == 0 {
						set = append(set, other)
					}
				}
				cmd, err := c.DecideAlter(k, AlterCmd{Master: bs.Master, MasterEpoch: bs.Epoch,
					SyncStateSetEpoch: bs.SyncStateSetEpoch, NewSyncStateSet: set}, now)
				if err == nil {
					do(cmd)
				}
			case x < 84: // an operator elects
				if cmd, err := c.DecideElect(k, id, now); err == nil {
					do(cmd)
				}
			case x < 88: // a new controller leader
				c.Live.Reset(now)
			case x < 96: // a stale or repeated proposal commits late
				if len(stale) > 0 {
					i := rng.IntN(len(stale))
					h.apply(t, c, stale[i])
					stale = slices.Delete(stale, i, i+1)
				}
			default: // an operator cleans a dead replica
				if cmd, err := c.DecideClean(k, []int64{id}, false, now); err == nil {
					do(cmd)
				}
			}
		}
		// The state survives a snapshot round trip.
		b, err := c.State.MarshalJSON()
		require.NoError(t, err)
		back := NewState()
		require.NoError(t, back.UnmarshalJSON(b), "round %d", round)
		b2, err := back.MarshalJSON()
		require.NoError(t, err)
		require.JSONEq(t, string(b), string(b2))
	}
}
