// Package longpoll holds pull requests that found nothing until a matching
// message arrives or their deadline passes (RocketMQ's PullRequestHoldService).
//
// Table is the pure core: held pulls indexed by queue, by connection and by
// deadline, with no goroutines, no clock and no locks. Its operations take
// events (a dispatched message, a closed connection, the current time) and
// return the pulls to re-run, each removed from the table, so a pull is
// answered at most once. It is tested with the datadriven scripts in
// testdata/table.
//
// Service wraps a Table for the broker: a mutex, one sweeper goroutine that
// sleeps until the earliest deadline (not at all while nothing is held), and
// runner goroutines that re-run ready pulls through the caller's Run
// function. Nothing runs per held pull while it waits.
//
// Imports: the standard library, pkg/clock and pkg/message only; the pull
// request itself is the caller's (Pull.Data), so this package knows nothing
// of the wire or the store.
//
// Example:
//
//	svc := longpoll.NewService(clk, 100000, func(ctx context.Context, p *longpoll.Pull) { rerun(p.Data) })
//	svc.Start(ctx) // sweeper and runners
//	err := svc.Hold(&longpoll.Pull{Key: k, Offset: off, Filter: f, Deadline: d, ConnID: id, Data: req})
//	svc.OnDispatch(k, offset, tagsCode) // from the store's dispatch events
//	svc.Close()                          // re-runs every held pull now
package longpoll
