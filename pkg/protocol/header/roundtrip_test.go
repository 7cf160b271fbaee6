package header

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/protocol"
)

var sampleStrings = []string{"", "T", "%RETRY%group_1", "héllo \"q\" \\ \n\t", "a,b;c=d", "UNIQ_KEY\x01ABC\x02KEYS\x01k1 k2\x02", "日本語", "127.0.0.1:10911"}

// fill sets every field of the header h points to from rng, covering empty
// strings, extremes and unset Opt fields.
func fill(rng *rand.Rand, h Header) {
	v := reflect.ValueOf(h).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(sampleStrings[rng.IntN(len(sampleStrings))])
		case reflect.Int32:
			f.SetInt(int64(pick(rng, []int32{0, 1, -1, math.MaxInt32, math.MinInt32, rng.Int32()})))
		case reflect.Int64:
			f.SetInt(pick(rng, []int64{0, 1, -1, math.MaxInt64, math.MinInt64, rng.Int64()}))
		case reflect.Bool:
			f.SetBool(rng.IntN(2) == 1)
		case reflect.Struct: // Opt[T]
			if rng.IntN(3) > 0 {
				f.Field(1).SetBool(true)
				f.Field(0).SetInt(int64(pick(rng, []int32{0, -1, 16, math.MaxInt32, rng.Int32()})))
			}
		default:
			panic("unexpected field kind " + f.Kind().String())
		}
	}
}

func pick[T any](rng *rand.Rand, vs []T) T { return vs[rng.IntN(len(vs))] }

func newLike(h Header) Header { return reflect.New(reflect.TypeOf(h).Elem()).Interface().(Header) }

// codesFor returns the request codes to round-trip h's type under: every
// naming of SendMessage, one code for the rest (the code does not matter to
// them).
func codesFor(h Header) []protocol.RequestCode {
	if _, ok := h.(*SendMessage); ok {
		return []protocol.RequestCode{protocol.SendMessage, protocol.SendMessageV2, protocol.SendBatchMessage,
			protocol.SendReplyMessage, protocol.SendReplyMessageV2}
	}
	return []protocol.RequestCode{protocol.GetRouteInfoByTopic}
}

// TestRoundTripBothSerializations encodes every header type into a command,
// frames it with the JSON and with the ROCKETMQ header serialization, decodes
// the frame and the header, and compares.
func TestRoundTripBothSerializations(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, proto := range allHeaders() {
		name := reflect.TypeOf(proto).Elem().Name()
		for range 50 {
			h := newLike(proto)
			fill(rng, h)
			for _, code := range codesFor(h) {
				for _, st := range []protocol.SerializeType{protocol.SerializeJSON, protocol.SerializeRocketMQ} {
					c := NewRequest(code, h)
					c.Serialize = st
					frame, err := protocol.AppendFrame(nil, c)
					require.NoError(t, err)
					back, err := protocol.DecodeFrame(frame, 0)
					require.NoError(t, err)
					got := newLike(h)
					require.NoError(t, got.Decode(back), "%s %s %s", name, code, st)
					require.Equal(t, h, got, "%s %s %s", name, code, st)
				}
			}
		}
	}
}
