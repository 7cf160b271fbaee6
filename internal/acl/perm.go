package acl

import (
	"fmt"
	"strings"
)

// Perm is a permission bit set, with RocketMQ's values (Permission.java).
type Perm uint8

// Permission bits. A set holding Deny grants nothing.
const (
	Deny Perm = 1
	Any  Perm = 1 << 1 // needed: PUB or SUB will do
	Pub  Perm = 1 << 2
	Sub  Perm = 1 << 3
)

// String renders p as plain_acl.yml writes it.
func (p Perm) String() string {
	switch {
	case p&Deny != 0:
		return "DENY"
	case p&(Pub|Sub) == Pub|Sub:
		return "PUB|SUB"
	case p&Pub != 0:
		return "PUB"
	case p&Sub != 0:
		return "SUB"
	case p&Any != 0:
		return "ANY"
	}
	return "DENY"
}

// ParsePerm parses DENY, PUB, SUB, PUB|SUB or SUB|PUB (surrounding spaces
// allowed). An empty string is DENY, as RocketMQ reads a missing default.
// Unlike RocketMQ, which reads any other word as DENY, it is an error, so a
// typo is reported rather than silently denying.
func ParsePerm(s string) (Perm, error) {
	switch strings.TrimSpace(s) {
	case "", "DENY":
		return Deny, nil
	case "PUB":
		return Pub, nil
	case "SUB":
		return Sub, nil
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, nil
	}
	return 0, fmt.Errorf("permission %q is not DENY, PUB, SUB or PUB|SUB", s)
}

// grants reports whether owned satisfies needed (Permission.checkPermission).
func grants(needed, owned Perm) bool {
	if owned&Deny != 0 {
		return false
	}
	if needed&Any != 0 {
		return owned&(Pub|Sub) != 0
	}
	return needed&owned != 0
}
