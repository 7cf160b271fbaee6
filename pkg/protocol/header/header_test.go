package header

import (
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/header/internal/headergen"
)

// TestGeneratedCodeIsCurrent fails when a header struct's tags changed without
// `go generate ./pkg/protocol/header`.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := headergen.Generate(".")
	require.NoError(t, err)
	got, err := os.ReadFile(headergen.Output)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "headers_gen.go is stale: run go generate ./pkg/protocol/header")
}

// TestFieldsMatchStructs checks every type's field table against its struct
// tags and Go types, field by field.
func TestFieldsMatchStructs(t *testing.T) {
	t.Parallel()
	kinds := map[reflect.Type]Kind{
		reflect.TypeFor[string](): KindString, reflect.TypeFor[int32](): KindInt32,
		reflect.TypeFor[int64](): KindInt64, reflect.TypeFor[bool](): KindBool,
		reflect.TypeFor[Opt[int32]](): KindInt32, reflect.TypeFor[Opt[int64]](): KindInt64,
	}
	for _, h := range allHeaders() {
		rt := reflect.TypeOf(h).Elem()
		fs := Fields(h)
		require.Equal(t, rt.NumField(), len(fs), rt.Name())
		for i, f := range fs {
			sf := rt.Field(i)
			tag := strings.Split(sf.Tag.Get("header"), ",")
			require.Equal(t, tag[0], f.Name, "%s.%s", rt.Name(), sf.Name)
			require.Equal(t, kinds[sf.Type], f.Kind, "%s.%s", rt.Name(), sf.Name)
			require.Equal(t, strings.Contains(sf.Tag.Get("header"), ",required"), f.Required, "%s.%s", rt.Name(), sf.Name)
			require.Equal(t, strings.HasPrefix(sf.Type.Name(), "Opt["), f.Opt, "%s.%s", rt.Name(), sf.Name)
		}
	}
}

func cmd(code protocol.RequestCode, ext map[string]string) *protocol.Command {
	return &protocol.Command{Code: int16(code), ExtFields: ext}
}

func TestDecodeMissingRequired(t *testing.T) {
	t.Parallel()
	var h PullMessage
	err := h.Decode(cmd(protocol.PullMessage, map[string]string{"consumerGroup": "g", "queueId": "x"}))
	// The first problem in field order: topic is missing before queueId is bad.
	require.EqualError(t, err, "the custom field <topic> is null")
	require.ErrorIs(t, err, ErrMissingField)
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	require.Equal(t, FieldError{Name: "topic", Kind: KindString, Missing: true}, *fe)
	require.Equal(t, "g", h.ConsumerGroup, "Decode reads every field it can")

	err = h.Decode(cmd(protocol.PullMessage, nil))
	require.EqualError(t, err, "the custom field <consumerGroup> is null")

	// Under V2 names the error names the wire key, as Java's does.
	var s SendMessage
	require.EqualError(t, s.Decode(cmd(protocol.SendMessageV2, map[string]string{"producerGroup": "pg"})), "the custom field <a> is null")
}

func TestDecodeBadNumbers(t *testing.T) {
	t.Parallel()
	ext := func(k, v string) map[string]string {
		m := map[string]string{"consumerGroup": "g", "topic": "t", "queueId": "1", "commitOffset": "2"}
		m[k] = v
		return m
	}
	f := func(k, v, want string) {
		t.Helper()
		var h UpdateConsumerOffset
		err := h.Decode(cmd(protocol.UpdateConsumerOffset, ext(k, v)))
		require.EqualError(t, err, want)
		require.ErrorIs(t, err, ErrBadField)
	}
	f("queueId", "x", `the custom field <queueId> is not a 32-bit number: "x"`)
	f("queueId", "2147483648", `the custom field <queueId> is not a 32-bit number: "2147483648"`)
	f("queueId", " 1", `the custom field <queueId> is not a 32-bit number: " 1"`)
	f("commitOffset", "9223372036854775808", `the custom field <commitOffset> is not a number: "9223372036854775808"`)
	f("commitOffset", "1.5", `the custom field <commitOffset> is not a number: "1.5"`)

	var h UpdateConsumerOffset
	require.NoError(t, h.Decode(cmd(protocol.UpdateConsumerOffset, ext("queueId", "-2147483648"))))
	require.Equal(t, int32(-2147483648), h.QueueID)
	require.NoError(t, h.Decode(cmd(protocol.UpdateConsumerOffset, ext("commitOffset", "+9223372036854775807"))))
	require.Equal(t, int64(9223372036854775807), h.CommitOffset)
}

// An empty value is present (so a required field passes) and reads as zero:
// the Go client sends some keys empty.
func TestDecodeEmptyValues(t *testing.T) {
	t.Parallel()
	var h UpdateConsumerOffset
	require.NoError(t, h.Decode(cmd(protocol.UpdateConsumerOffset,
		map[string]string{"consumerGroup": "", "topic": "t", "queueId": "", "commitOffset": ""})))
	require.Equal(t, UpdateConsumerOffset{Topic: "t"}, h)

	var b ConsumerSendMsgBack
	require.NoError(t, b.Decode(cmd(protocol.ConsumerSendMsgBack,
		map[string]string{"offset": "1", "group": "g", "delayLevel": "0", "maxReconsumeTimes": ""})))
	require.False(t, b.MaxReconsumeTimes.Set, "empty is absent")
	require.NoError(t, b.Decode(cmd(protocol.ConsumerSendMsgBack,
		map[string]string{"offset": "1", "group": "g", "delayLevel": "0", "maxReconsumeTimes": "0"})))
	require.Equal(t, Some[int32](0), b.MaxReconsumeTimes, "zero is set")
	err := b.Decode(cmd(protocol.ConsumerSendMsgBack,
		map[string]string{"offset": "1", "group": "g", "delayLevel": "0", "maxReconsumeTimes": "many"}))
	require.EqualError(t, err, `the custom field <maxReconsumeTimes> is not a 32-bit number: "many"`)
	require.False(t, b.MaxReconsumeTimes.Set)
}

// Booleans read as Java's Boolean.parseBoolean: "true" in any case, else
// false; they never fail.
func TestDecodeBooleans(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"true": true, "TRUE": true, "True": true, "false": false, "": false, "1": false, "yes": false, "truex": false} {
		var h ResetOffset
		require.NoError(t, h.Decode(cmd(protocol.ResetConsumerClientOffset,
			map[string]string{"topic": "t", "group": "g", "timestamp": "-1", "isForce": v})))
		require.Equal(t, want, h.IsForce, "%q", v)
	}
	var h ResetOffset
	require.EqualError(t, h.Decode(cmd(protocol.ResetConsumerClientOffset,
		map[string]string{"topic": "t", "group": "g", "timestamp": "-1"})), "the custom field <isForce> is null")
}

func TestSendMessageNamings(t *testing.T) {
	t.Parallel()
	h := SendMessage{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 3, SysFlag: 0, BornTimestamp: 1700000000000, Flag: 0, Properties: "UNIQ_KEY\x01id\x02",
		MaxReconsumeTimes: Some[int32](16), Batch: true, BrokerName: "b1"}
	long := map[string]string{"producerGroup": "pg", "topic": "T", "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": "3", "sysFlag": "0", "bornTimestamp": "1700000000000", "flag": "0", "properties": "UNIQ_KEY\x01id\x02",
		"reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "16", "batch": "true", "bname": "b1"}
	short := map[string]string{"a": "pg", "b": "T", "c": "TBW102", "d": "4", "e": "3", "f": "0", "g": "1700000000000",
		"h": "0", "i": "UNIQ_KEY\x01id\x02", "j": "0", "k": "false", "l": "16", "m": "true", "n": "b1"}
	for code, want := range map[protocol.RequestCode]map[string]string{
		protocol.SendMessage: long, protocol.SendReplyMessage: long,
		protocol.SendMessageV2: short, protocol.SendBatchMessage: short, protocol.SendReplyMessageV2: short,
	} {
		c := NewRequest(code, &h)
		require.Equal(t, want, c.ExtFields, code.String())
		var got SendMessage
		require.NoError(t, got.Decode(c), code.String())
		require.Equal(t, h, got, code.String())
	}
	require.True(t, UsesV2Names(protocol.SendMessageV2))
	require.False(t, UsesV2Names(protocol.PullMessage))
}

// The official Go client's headers (v2.1.2), as the reference lists them.
func TestDecodeGoClientHeaders(t *testing.T) {
	t.Parallel()
	var s SendMessage
	require.NoError(t, s.Decode(cmd(protocol.SendMessage, map[string]string{
		"producerGroup": "pg", "topic": "T", "defaultTopic": "TBW102", "defaultTopicQueueNums": "4", "queueId": "1",
		"sysFlag": "0", "bornTimestamp": "1", "flag": "0", "properties": "", "reconsumeTimes": "0",
		"unitMode": "false", "maxReconsumeTimes": "0", "batch": "false", "bname": "broker-a"})))
	require.Equal(t, SendMessage{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4,
		QueueID: 1, BornTimestamp: 1, MaxReconsumeTimes: Some[int32](0), BrokerName: "broker-a"}, s)

	var p PullMessage
	require.NoError(t, p.Decode(cmd(protocol.PullMessage, map[string]string{
		"consumerGroup": "g", "topic": "T", "queueId": "2", "queueOffset": "10", "maxMsgNums": "32", "sysFlag": "2",
		"commitOffset": "0", "suspendTimeoutMillis": "20000", "subscription": "", "subVersion": "0",
		"expressionType": "TAG", "bname": "broker-a"})))
	require.Equal(t, PullMessage{ConsumerGroup: "g", Topic: "T", QueueID: 2, QueueOffset: 10, MaxMsgNums: 32, SysFlag: 2,
		SuspendTimeoutMillis: 20000, ExpressionType: "TAG", BrokerName: "broker-a"}, p)
}

func TestEncodeLeavesOtherKeys(t *testing.T) {
	t.Parallel()
	c := protocol.NewRequest(protocol.GetRouteInfoByTopic, map[string]string{"extra": "x"})
	GetRouteInfo{Topic: "T"}.Encode(c)
	require.Equal(t, map[string]string{"extra": "x", "topic": "T", "acceptStandardJsonOnly": "false"}, c.ExtFields)

	c = &protocol.Command{}
	RegisterBrokerResponse{}.Encode(c)
	require.Empty(t, c.ExtFields, "empty optional strings are not written")
	require.NotNil(t, c.ExtFields)
}

func TestNewResponse(t *testing.T) {
	t.Parallel()
	req := protocol.NewRequest(protocol.GetMaxOffset, nil)
	req.Opaque, req.Serialize = 7, protocol.SerializeRocketMQ
	resp := NewResponse(req, protocol.Success, "", &GetMaxOffsetResponse{Offset: 42})
	require.Equal(t, protocol.Success, resp.ResponseCode())
	require.Equal(t, int32(7), resp.Opaque)
	require.Equal(t, protocol.SerializeRocketMQ, resp.Serialize)
	require.True(t, resp.IsResponse())
	require.Equal(t, map[string]string{"offset": "42"}, resp.ExtFields)
}

// parseInt's fast path must agree with strconv.ParseInt everywhere.
func TestParseIntMatchesStrconv(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		for _, bits := range []int{32, 64} {
			want, err := strconv.ParseInt(s, 10, bits)
			got, ok := parseInt(s, bits)
			require.Equal(t, err == nil, ok, "%q bits %d", s, bits)
			if ok {
				require.Equal(t, want, got, "%q bits %d", s, bits)
			}
		}
	}
	for _, s := range []string{"", "0", "00", "007", "+1", "-1", "-0", "+", "-", "1_000", "0x10", " 1", "1 ", "1e3",
		"2147483647", "2147483648", "-2147483648", "-2147483649", "999999999999999999", "9999999999999999999",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "١٢", "12a"} {
		check(s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		check(strconv.FormatInt(rng.Int64()>>rng.IntN(64), 10))
		check(strconv.FormatUint(rng.Uint64()>>rng.IntN(64), 10))
	}
}

func FuzzParseInt(f *testing.F) {
	f.Add("123")
	f.Add("-9223372036854775808")
	f.Fuzz(func(t *testing.T, s string) {
		for _, bits := range []int{32, 64} {
			want, err := strconv.ParseInt(s, 10, bits)
			got, ok := parseInt(s, bits)
			if (err == nil) != ok || ok && want != got {
				t.Fatalf("parseInt(%q, %d) = %d, %v; strconv: %d, %v", s, bits, got, ok, want, err)
			}
		}
	})
}
