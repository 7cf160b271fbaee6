package acl

import (
	"testing"

	"github.com/petrelmq/petrel/pkg/auth"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// BenchmarkCheckSend is the ACL cost of one signed 1 KiB SEND_MESSAGE_V2 with
// the Go client's header fields.
func BenchmarkCheckSend(b *testing.B) {
	rules, err := compile(mustParse(b, testFile))
	if err != nil {
		b.Fatal(err)
	}
	ext := map[string]string{"a": "pg", "b": "topicB", "c": "TBW102", "d": "4", "e": "0", "f": "0",
		"g": "1700000000000", "h": "0", "i": "UNIQ_KEY\x017F000001000018B4AAC2\x02WAIT\x01true\x02TAGS\x01t", "j": "0", "k": "false", "m": "false"}
	cmd := protocol.NewRequest(protocol.SendMessageV2, ext)
	cmd.Body = make([]byte, 1024)
	auth.Credentials{AccessKey: "RocketMQ", SecretKey: "12345678"}.Sign(cmd)
	req := Request{Code: protocol.SendMessageV2, Ext: cmd.ExtFields, Body: cmd.Body, Remote: "127.0.0.1:5000"}
	b.SetBytes(int64(len(cmd.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rules.check(req, BrokerAdminCodes); err != nil {
			b.Fatal(err)
		}
	}
}
