// Package controller is Petrel's controller: a Raft group of three or five
// nodes that keeps, per broker set, the master, the epoch and the
// SyncStateSet, and elects a new master when the old one stops
// heartbeating.
package controller
