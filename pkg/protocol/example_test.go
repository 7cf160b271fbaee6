package protocol_test

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/petrelmq/petrel/pkg/protocol"
)

func ExampleAppendFrame() {
	req := protocol.NewRequest(protocol.GetRouteInfoByTopic, map[string]string{"topic": "T"})
	req.Opaque = 1
	frame, err := protocol.AppendFrame(nil, req)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", frame[:8])
	fmt.Println(string(frame[8:]))

	fr := protocol.NewFrameReader(bufio.NewReader(bytes.NewReader(frame)), protocol.DefaultMaxFrameSize)
	got, err := fr.Read()
	fmt.Println(got.Code, got.Ext("topic"), got.Serialize, err)
	// Output:
	// 00 00 00 68 00 00 00 64
	// {"code":105,"language":"GO","version":409,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"T"}}
	// 105 T JSON <nil>
}
