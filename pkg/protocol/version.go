package protocol

import (
	"fmt"
	"strconv"
)

// VersionName renders a request's version (a client's or broker's
// MQVersion.Version ordinal) as RocketMQ's MQVersion.getVersionDesc does: the
// enum's name, "V4_9_4" for 401. From V4_0_0 on the enum has a SNAPSHOT and
// a release per patch, ten patches per minor and ten minors per major, up to
// V5_9_9 (611); later ordinals are "HIGHER_VERSION".
func VersionName(v int32) string {
	const first4 = 212 // V4_0_0_SNAPSHOT
	if v < first4 {
		return "V3_" + strconv.Itoa(int(v)) // the 3.x names are irregular; no client Petrel serves is 3.x
	}
	if v > 611 {
		return "HIGHER_VERSION"
	}
	n := v - first4
	major, rem := 4+n/200, n%200
	name := fmt.Sprintf("V%d_%d_%d", major, rem/20, rem%20/2)
	if rem%2 == 0 {
		name += "_SNAPSHOT"
	}
	return name
}
