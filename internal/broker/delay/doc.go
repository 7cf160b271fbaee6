// Package delay delivers messages later: RocketMQ's 18 delay levels
// (DELAY=n parks a message in SCHEDULE_TOPIC_XXXX queue n-1 and a scheduler
// moves it back to its real topic when due) and RocketMQ 5.x timer messages
// (TIMER_DELIVER_MS, __STARTDELIVERTIME, TIMER_DELAY_SEC/MS park it in
// rmq_sys_wheel_timer and the timer log, internal/store/timer, delivers it at
// its exact time). See docs/design/timer.md.
//
// Service owns the scheduler goroutine, the timer's enqueue and deliver
// goroutines and one goroutine that drains the store's dispatch events for
// them. Its park functions (Prepare, ParkLevel) are pure message rewrites the
// send and retry rooms call before storing. Only a master delivers; a slave's
// Service parks nothing and runs nothing (it replicates what its master
// delivers).
//
// Imports: the standard library, internal/store (and store/timer),
// internal/lifecycle, broker/meta, broker/answer, pkg/clock, pkg/message,
// pkg/protocol, pkg/remoting. Safe for concurrent use.
package delay
