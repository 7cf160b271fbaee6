package admin_test

import (
	"context"
	"log"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
)

func ExampleAdmin_CreateTopicInCluster() {
	ctx := context.Background()
	a, err := admin.New(client.NameServers("127.0.0.1:9876"))
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateTopicInCluster(ctx, "DefaultCluster", admin.TopicSpec{Topic: "Orders", ReadQueues: 4, WriteQueues: 4}); err != nil {
		log.Fatal(err)
	}
	lag, err := a.Lag(ctx, "order-consumers", "Orders")
	if err != nil {
		log.Fatal(err)
	}
	log.Println("lag:", lag)
}
