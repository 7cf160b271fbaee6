package client_test

import (
	"context"
	"errors"
	"log"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/protocol"
)

func ExampleClient_Route() {
	ctx := context.Background()
	c, err := client.New(client.NameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r, err := c.Route(ctx, "TopicTest")
	if errors.Is(err, protocol.ErrTopicNotExist) {
		log.Fatal("no such topic")
	}
	for _, q := range r.PublishQueues() {
		addr, _ := r.MasterAddr(q.BrokerName)
		log.Println(q, addr)
	}
}

func ExampleDecodeRoute() {
	// A route in fastjson's form, with bare integer keys.
	rd, err := client.DecodeRoute([]byte(`{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"writeQueueNums":4}]}`))
	if err != nil {
		log.Fatal(err)
	}
	r := client.NewRoute("TopicTest", rd)
	log.Println(len(r.PublishQueues())) // 4
}
