// Package registrar registers a broker with every name server
// (REGISTER_BROKER / UNREGISTER_BROKER): from one goroutine, every
// registerNameServerPeriod and whenever a change asks for it. Callers that need
// the route to exist when they return (UPDATE_AND_CREATE_TOPIC, a permission
// change) wait for a round that started after their change. Nothing holds a
// lock across the network calls; every name server is called in parallel with
// its own timeout, so a dead one never delays the others.
//
// A slave learns its master's addresses from the answers (masterAddr,
// haServerAddr), as RocketMQ's slaves do; Master returns the latest.
//
// Imports: the standard library, pkg/clock, pkg/protocol (and body) and
// pkg/remoting's client. It knows nothing else of the broker: what it
// registers comes from Config and the Body function.
package registrar
