package trace_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/trace"
)

// rec joins fields with 0x01 and ends the record with 0x02.
func rec(fields ...string) string { return strings.Join(fields, "\x01") + "\x02" }

func TestDecodeLayouts(t *testing.T) {
	t.Parallel()
	check := func(body string, want ...trace.Record) {
		t.Helper()
		require.Equal(t, want, trace.Decode([]byte(body)))
	}
	// rocketmq-client-go v2.1.2: Pub with clientHost (15 fields).
	check(rec("Pub", "1700000000000", "DefaultRegion", "pg", "T", "ID1", "tagA", "k1 k2", "127.0.0.1:10911", "5", "3", "0", "OFF1", "true", "10.0.0.1"),
		trace.Record{Type: trace.Pub, Timestamp: 1700000000000, Region: "DefaultRegion", Group: "pg", Topic: "T", MsgID: "ID1",
			Tags: "tagA", Keys: "k1 k2", StoreHost: "127.0.0.1:10911", BodyLength: 5, CostMillis: 3, MsgType: trace.NormalMsg,
			OffsetMsgID: "OFF1", Success: true, ClientHost: "10.0.0.1"})
	// RocketMQ 4.9.4 Java: 14 fields, null keys.
	check(rec("Pub", "1", "r", "g", "T", "ID1", "null", "null", "h", "5", "3", "3", "OFF1", "false"),
		trace.Record{Type: trace.Pub, Timestamp: 1, Region: "r", Group: "g", Topic: "T", MsgID: "ID1", Tags: "null",
			StoreHost: "h", BodyLength: 5, CostMillis: 3, MsgType: trace.DelayMsg, OffsetMsgID: "OFF1"})
	// Old Java: 13 fields, success at 12.
	check(rec("Pub", "1", "r", "g", "T", "ID1", "", "", "h", "5", "3", "1", "true"),
		trace.Record{Type: trace.Pub, Timestamp: 1, Region: "r", Group: "g", Topic: "T", MsgID: "ID1", StoreHost: "h",
			BodyLength: 5, CostMillis: 3, MsgType: trace.TransMsgHalf, Success: true})
	// Java 4.9.4 SubBefore (8 fields), Go's (9) and SubAfter (9).
	check(rec("SubBefore", "2", "r", "cg", "REQ", "ID1", "1", "null")+rec("SubBefore", "2", "r", "cg", "REQ", "ID2", "0", "k", "10.0.0.2")+
		rec("SubAfter", "REQ", "ID1", "7", "false", "null", "4", "3", "cg"),
		trace.Record{Type: trace.SubBefore, Timestamp: 2, Region: "r", Group: "cg", RequestID: "REQ", MsgID: "ID1", RetryTimes: 1, Success: true},
		trace.Record{Type: trace.SubBefore, Timestamp: 2, Region: "r", Group: "cg", RequestID: "REQ", MsgID: "ID2", Keys: "k", ClientHost: "10.0.0.2", Success: true},
		trace.Record{Type: trace.SubAfter, RequestID: "REQ", MsgID: "ID1", CostMillis: 7, ContextCode: trace.ConsumeFailed, Timestamp: 3, Group: "cg"})
	// Old SubAfter (6 fields).
	check(rec("SubAfter", "REQ", "ID1", "7", "true", "k"),
		trace.Record{Type: trace.SubAfter, RequestID: "REQ", MsgID: "ID1", CostMillis: 7, Success: true, Keys: "k"})
	check(rec("EndTransaction", "4", "r", "pg", "T", "ID1", "t", "k", "h", "2", "TX", "COMMIT_MESSAGE", "true"),
		trace.Record{Type: trace.EndTransaction, Timestamp: 4, Region: "r", Group: "pg", Topic: "T", MsgID: "ID1", Tags: "t", Keys: "k",
			StoreHost: "h", MsgType: trace.TransMsgCommit, TransactionID: "TX", TransactionState: trace.StateCommit, FromCheck: true, Success: true})
	// Unreadable records are skipped, the others kept.
	check(rec("Pub", "x", "r", "g", "T", "ID1", "", "", "h", "5", "3", "1", "true")+rec("Nope", "1")+rec("SubAfter", "R")+
		rec("SubAfter", "REQ", "ID9", "1", "true", "k"),
		trace.Record{Type: trace.SubAfter, RequestID: "REQ", MsgID: "ID9", CostMillis: 1, Success: true, Keys: "k"})
	check("")
}

func TestEncodeLayouts(t *testing.T) {
	t.Parallel()
	recs := []trace.Record{
		{Type: trace.Pub, Timestamp: 1, Region: "r", Group: "g", Topic: "T", MsgID: "ID1", Tags: "a", Keys: "k1 k2", StoreHost: "h",
			BodyLength: 5, CostMillis: 3, MsgType: trace.NormalMsg, OffsetMsgID: "O", Success: true, ClientHost: "c"},
		{Type: trace.SubBefore, Timestamp: 2, Region: "r", Group: "cg", RequestID: "R", MsgID: "ID1", RetryTimes: 1, ClientHost: "c"},
		{Type: trace.SubAfter, RequestID: "R", MsgID: "ID1", CostMillis: 9, Success: true, ContextCode: trace.ConsumeSuccess, Timestamp: 3, Group: "cg"},
		{Type: trace.EndTransaction, Timestamp: 4, Region: "r", Group: "g", Topic: "T", MsgID: "ID1", Tags: "a", Keys: "k", StoreHost: "h",
			MsgType: trace.TransMsgCommit, TransactionID: "X", TransactionState: trace.StateRollback},
		{Type: "Unknown", MsgID: "ignored"},
	}
	want := rec("Pub", "1", "r", "g", "T", "ID1", "a", "k1 k2", "h", "5", "3", "0", "O", "true", "c") +
		rec("SubBefore", "2", "r", "cg", "R", "ID1", "1", "null", "c") +
		rec("SubAfter", "R", "ID1", "9", "true", "null", "0", "3", "cg") +
		rec("EndTransaction", "4", "r", "g", "T", "ID1", "a", "k", "h", "2", "X", "ROLLBACK_MESSAGE", "false")
	require.Equal(t, want, string(trace.Encode(recs)))
	require.Equal(t, []string{"ID1", "k1", "k2", "k"}, trace.Keys(recs[:4]))

	// Separators inside values cannot split a record.
	bad := trace.Record{Type: trace.Pub, MsgID: "A\x01B\x02C", Keys: "k\x02"}
	got := trace.Decode(trace.Encode([]trace.Record{bad}))
	require.Len(t, got, 1)
	require.Equal(t, "ABC", got[0].MsgID)
	require.Equal(t, "k", got[0].Keys)
}

func TestNames(t *testing.T) {
	t.Parallel()
	require.Equal(t, "Trans_msg_Commit", trace.TransMsgCommit.String())
	require.Equal(t, "MessageType(9)", trace.MessageType(9).String())
	require.Equal(t, "FAILED", trace.ConsumeFailed.String())
	require.Equal(t, "ConsumeReturnType(-1)", trace.ConsumeReturnType(-1).String())
}

// Bodies captured from RocketMQ 4.9.4's Java client (enableMsgTrace) sending
// to and consuming from petrel standalone.
func TestDecodeJava494(t *testing.T) {
	t.Parallel()
	const id = "FD0000000000000000000000000000023B715FFD2B27168711B40000"
	const req = "FD0000000000000000000000000000023B715FFD2B27168713840002"
	pub := "Pub\x011796461150645\x01DefaultRegion\x01java-pg\x01JavaTraceT\x01" + id + "\x01TagJ\x01jk1\x01127.0.0.1:19911\x019\x0145\x010\x017F00000100004DC7000000000000E691\x01true\x02"
	sub := "SubBefore\x011796461151108\x01null\x01java-cg\x01" + req + "\x01" + id + "\x010\x01jk1\x02" +
		"SubAfter\x01" + req + "\x01" + id + "\x011\x01true\x01jk1\x010\x011796461151109\x01java-cg\x02"
	require.Equal(t, []trace.Record{{Type: trace.Pub, Timestamp: 1796461150645, Region: "DefaultRegion", Group: "java-pg", Topic: "JavaTraceT",
		MsgID: id, Tags: "TagJ", Keys: "jk1", StoreHost: "127.0.0.1:19911", BodyLength: 9, CostMillis: 45, MsgType: trace.NormalMsg,
		OffsetMsgID: "7F00000100004DC7000000000000E691", Success: true}}, trace.Decode([]byte(pub)))
	require.Equal(t, []trace.Record{
		{Type: trace.SubBefore, Timestamp: 1796461151108, Region: "null", Group: "java-cg", RequestID: req, MsgID: id, Keys: "jk1", Success: true},
		{Type: trace.SubAfter, RequestID: req, MsgID: id, CostMillis: 1, Success: true, Keys: "jk1", Timestamp: 1796461151109, Group: "java-cg"},
	}, trace.Decode([]byte(sub)))
}
