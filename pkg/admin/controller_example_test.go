package admin_test

import (
	"context"
	"fmt"
	"time"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
)

// Each broker set's master, epoch and SyncStateSet, from the controllers, and
// a switch to another in-sync replica.
func ExampleAdmin_SyncStateData() {
	a, err := admin.New(client.NameServers("127.0.0.1:9876"))
	if err != nil {
		return
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	controllers := []string{"127.0.0.1:9877", "127.0.0.1:9878", "127.0.0.1:9879"}
	sets, err := a.SyncStateData(ctx, controllers, "DefaultCluster", "")
	if err != nil {
		return
	}
	for _, s := range sets {
		fmt.Printf("%s: master %d, epoch %d, in sync %v\n", s.BrokerName, s.MasterBrokerID, s.MasterEpoch, s.SyncStateSet)
	}
	if _, err := a.ElectMaster(ctx, controllers, "DefaultCluster", "broker-a", 1); err != nil {
		fmt.Println(err)
	}
}
