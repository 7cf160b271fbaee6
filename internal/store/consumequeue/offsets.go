package consumequeue

import "github.com/petrelmq/petrel/pkg/message"

// Short names for the typed offsets of pkg/message, used by the tests.
type (
	physOffset  = message.PhysOffset
	queueOffset = message.QueueOffset
)
