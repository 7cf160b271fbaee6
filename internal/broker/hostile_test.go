package broker_test

import (
	"context"
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/stretchr/testify/require"
)

var hostileSeed = flag.Uint64("seed", 0, "seed of TestHostileRequests (0: random)")

// hostileKeys are the extFields names the broker's processors read; garbage
// values for them reach the parsers instead of stopping at "field missing".
var hostileKeys = []string{
	"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
	"topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "queueOffset", "consumerGroup", "producerGroup",
	"group", "offset", "commitOffset", "maxMsgNums", "sysFlag", "subscription", "subVersion", "expressionType",
	"readQueueNums", "writeQueueNums", "perm", "topicFilterType", "topicSysFlag", "order", "timestamp",
	"bornTimestamp", "flag", "properties", "reconsumeTimes", "batch", "unitMode", "tranStateTableOffset",
	"commitLogOffset", "commitOrRollback", "fromTransactionCheck", "msgId", "transactionId", "key", "maxNum",
	"beginTimestamp", "endTimestamp", "originMsgId", "originTopic", "delayLevel", "maxReconsumeTimes",
	"clientId", "consumerGroupSet", "topicList", "isForce", "language", "version",
}

var hostileValues = []string{
	"", "x", "-1", "0", "1", "3", "7", "-2147483648", "2147483648", "99999999999999999999", "TBW102",
	"%RETRY%g", "%DLQ%g", "*", "a||b", "true", "yes", "SQL92", "TAG", "a > ", "\x00\x01\x02",
	strings.Repeat("t", 300), "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "0A0000010000000000000001",
}

// TestHostileRequests sends every request code with no extFields, and with
// random garbage ones and bodies: each must be answered, never with a panic.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	r := startRaw(t)
	seed := *hostileSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -seed)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	r.createTopic("HostileT", 4, 6)

	check := func(code protocol.RequestCode, ext map[string]string, b []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := protocol.NewRequest(code, ext)
		req.Body = b
		resp, err := r.cl.Invoke(ctx, r.addr, req)
		require.NoError(t, err, "code %d ext %q: no answer", code, ext)
		require.NotContains(t, resp.Remark, "panic", "code %d ext %q", code, ext)
	}
	for code := protocol.RequestCode(0); code <= 400; code++ {
		check(code, nil, nil)
		check(code, map[string]string{}, []byte("{"))
		for range 4 {
			ext := map[string]string{}
			for range 1 + rng.IntN(len(hostileKeys)) {
				ext[hostileKeys[rng.IntN(len(hostileKeys))]] = hostileValues[rng.IntN(len(hostileValues))]
			}
			ext["suspendTimeoutMillis"] = "0" // a held pull would be answered only after it
			var b []byte
			switch rng.IntN(3) {
			case 1:
				b = make([]byte, rng.IntN(64))
				for i := range b {
					b[i] = byte(rng.UintN(256))
				}
			case 2:
				b = []byte(`{"offsetTable":{"x":null},"topicConfigTable":{"a":null},"mqSet":[{}],"consumerDataSet":[{"subscriptionDataSet":[null]}]}`)
			}
			check(code, ext, b)
		}
	}
	// The broker still serves after all that.
	resp := r.send("HostileT", 0, "", "alive")
	require.Equal(t, protocol.Success, resp.ResponseCode(), resp.Remark)
}
