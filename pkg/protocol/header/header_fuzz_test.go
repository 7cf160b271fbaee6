package header

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

// The decoder families, one fuzz target each. Every header type is in exactly
// one (TestFuzzFamiliesCoverEveryHeader).
var (
	sendFamily = []Header{new(SendMessage), new(SendMessageResponse), new(PushReplyMessage)}
	pullFamily = []Header{new(PullMessage), new(PullMessageResponse)}

	brokerFamily = []Header{
		new(QueryConsumerOffset), new(QueryConsumerOffsetResponse), new(UpdateConsumerOffset),
		new(GetMaxOffset), new(GetMaxOffsetResponse), new(GetMinOffset), new(GetMinOffsetResponse),
		new(GetEarliestMsgStoretime), new(GetEarliestMsgStoretimeResponse), new(SearchOffset), new(SearchOffsetResponse),
		new(ViewMessage), new(QueryMessage), new(QueryMessageResponse), new(ConsumerSendMsgBack), new(EndTransaction),
		new(GetConsumerListByGroup), new(UnregisterClient), new(GetConsumerConnectionList), new(GetProducerConnectionList),
		new(CreateTopic), new(DeleteTopic), new(DeleteSubscriptionGroup), new(GetTopicStatsInfo), new(GetConsumeStats),
		new(QueryTopicConsumeByWho), new(QueryConsumeTimeSpan), new(QueryConsumeQueue), new(GetBrokerConsumeStats), new(ViewBrokerStatsData), new(CloneGroupOffset),
	}
	clientFamily = []Header{
		new(CheckTransactionState), new(NotifyConsumerIDsChanged), new(ResetOffset), new(GetConsumerStatus),
		new(GetConsumerRunningInfo), new(ConsumeMessageDirectly),
	}
	namesrvFamily = []Header{
		new(RegisterBroker), new(RegisterBrokerResponse), new(UnregisterBroker), new(QueryDataVersion),
		new(QueryDataVersionResponse), new(GetRouteInfo), new(DeleteTopicFromNamesrv), new(PutKVConfig),
		new(GetKVConfig), new(GetKVConfigResponse), new(DeleteKVConfig), new(GetKVListByNamespace),
		new(WipeWritePermOfBroker), new(WipeWritePermOfBrokerResponse), new(AddWritePermOfBroker),
		new(AddWritePermOfBrokerResponse), new(GetTopicsByCluster),
	}
	controllerFamily = []Header{
		new(ControllerRegisterBroker), new(BrokerHeartbeat), new(BrokerSetState), new(ControllerAlterSyncStateSet),
		new(ControllerElectMaster), new(ControllerGetReplicaInfo), new(ControllerGetSyncStateData),
		new(ControllerMetadata), new(CleanBrokerData),
	}
)

func TestFuzzFamiliesCoverEveryHeader(t *testing.T) {
	t.Parallel()
	seen := map[reflect.Type]int{}
	for _, fam := range [][]Header{sendFamily, pullFamily, brokerFamily, clientFamily, namesrvFamily, controllerFamily} {
		for _, h := range fam {
			seen[reflect.TypeOf(h)]++
		}
	}
	for _, h := range allHeaders() {
		require.Equal(t, 1, seen[reflect.TypeOf(h)], "%T must be in exactly one fuzz family", h)
	}
	require.Len(t, seen, len(allHeaders()))
}

// The fuzz input is a header type (which, modulo the family), a naming (v2
// picks SEND_MESSAGE_V2 for SendMessage) and extFields as lines "key=value". A
// key "#n" stands for the wire name of field n, so the fuzzer reaches real
// keys easily.
func fuzzExt(h Header, v2 bool, kv []byte) map[string]string {
	fs := h.fields()
	ext := map[string]string{}
	for line := range bytes.SplitSeq(kv, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("="))
		key := string(k)
		if len(key) > 1 && key[0] == '#' {
			if n, err := strconv.Atoi(key[1:]); err == nil && n >= 0 {
				f := fs[n%len(fs)]
				key = f.Name
				if v2 && f.V2 != "" {
					key = f.V2
				}
			}
		}
		ext[key] = string(v)
	}
	return ext
}

func seedLines(h Header, v2 bool, hashKeys bool) []byte {
	c := &protocol.Command{}
	if v2 {
		c.Code = int16(protocol.SendMessageV2)
	}
	h.Encode(c)
	var b []byte
	for i, f := range h.fields() {
		k := f.Name
		if v2 && f.V2 != "" {
			k = f.V2
		}
		v, ok := c.ExtFields[k]
		if !ok {
			continue
		}
		if hashKeys {
			k = "#" + strconv.Itoa(i)
		}
		b = append(b, k+"="+v+"\n"...)
	}
	return b
}

func fuzzFamily(f *testing.F, family []Header) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i, proto := range family {
		for _, v2 := range []bool{false, true} {
			h := newLike(proto)
			fill(rng, h)
			f.Add(uint8(i), v2, seedLines(h, v2, false))
			f.Add(uint8(i), v2, seedLines(h, v2, true))
		}
		f.Add(uint8(i), false, []byte("#0=\n#1=x\n#2=-9223372036854775809\n#3=TRUE\n#4=2147483647"))
		f.Add(uint8(i), false, []byte(""))
	}
	f.Fuzz(func(t *testing.T, which uint8, v2 bool, kv []byte) {
		proto := family[int(which)%len(family)]
		code := protocol.SendMessage
		if v2 {
			code = protocol.SendMessageV2
		}
		h := newLike(proto)
		err := h.Decode(cmd(code, fuzzExt(h, v2, kv)))
		if err != nil {
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%T: %v", err, err)
			require.True(t, errors.Is(err, ErrMissingField) != errors.Is(err, ErrBadField))
			return
		}
		// Accepted input round-trips, directly and through both frame
		// serializations (JSON only for valid UTF-8, which JSON cannot carry
		// otherwise).
		c := NewRequest(code, h)
		sts := []protocol.SerializeType{protocol.SerializeRocketMQ}
		if !slices.ContainsFunc(slices.Collect(maps.Values(c.ExtFields)), func(s string) bool { return !utf8.ValidString(s) }) {
			sts = append(sts, protocol.SerializeJSON)
		}
		got := newLike(h)
		require.NoError(t, got.Decode(c))
		require.Equal(t, h, got)
		for _, st := range sts {
			c.Serialize = st
			frame, err := protocol.AppendFrame(nil, c)
			require.NoError(t, err)
			back, err := protocol.DecodeFrame(frame, 0)
			require.NoError(t, err)
			got := newLike(h)
			require.NoError(t, got.Decode(back), st.String())
			require.Equal(t, h, got, st.String())
		}
	})
}

func FuzzDecodeSendHeaders(f *testing.F)    { fuzzFamily(f, sendFamily) }
func FuzzDecodePullHeaders(f *testing.F)    { fuzzFamily(f, pullFamily) }
func FuzzDecodeBrokerHeaders(f *testing.F)  { fuzzFamily(f, brokerFamily) }
func FuzzDecodeClientHeaders(f *testing.F)  { fuzzFamily(f, clientFamily) }
func FuzzDecodeNamesrvHeaders(f *testing.F) { fuzzFamily(f, namesrvFamily) }

func FuzzDecodeControllerHeaders(f *testing.F) { fuzzFamily(f, controllerFamily) }
