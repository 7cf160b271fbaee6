package namesrv

import (
	"time"

	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// The wire types live in pkg/protocol/body, shared with the broker and the SDK;
// these aliases keep the name server's code short.
type (
	DataVersion        = body.DataVersion
	TopicConfig        = body.TopicConfig
	TopicConfigWrapper = body.TopicConfigWrapper
	RegisterBody       = body.RegisterBody
	QueueData          = body.QueueData
	BrokerData         = body.BrokerData
	TopicRouteData     = body.TopicRouteData
	ClusterInfo        = body.ClusterInfo
)

// Wire constants, from pkg/protocol/body.
const (
	PermPriority              = body.PermPriority
	PermRead                  = body.PermRead
	PermWrite                 = body.PermWrite
	PermInherit               = body.PermInherit
	MasterID                  = body.MasterID
	NamespaceOrderTopicConfig = body.NamespaceOrderTopicConfig
	StandardJSONMinVersion    = body.StandardJSONMinVersion
	MaxRegisterBodySize       = body.MaxRegisterBodySize
)

// ErrBadRegisterBody is body.ErrBadRegisterBody.
var ErrBadRegisterBody = body.ErrBadRegisterBody

// DroppedBroker describes a broker address removed by a liveness scan or a closed
// connection, for logging.
type DroppedBroker struct {
	Addr       string
	ConnID     uint64
	LastUpdate time.Time // time of the last registration or refresh
	// RemovedNames are the broker names that lost their last address and went away
	// with their queue data.
	RemovedNames []string
}
