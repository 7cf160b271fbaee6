package protocol

import "testing"

func TestVersionName(t *testing.T) {
	t.Parallel()
	for v, want := range map[int32]string{
		212: "V4_0_0_SNAPSHOT", 213: "V4_0_0", 233: "V4_1_0", 401: "V4_9_4", 409: "V4_9_8",
		413: "V5_0_0", 611: "V5_9_9", 612: "HIGHER_VERSION",
	} {
		if got := VersionName(v); got != want {
			t.Errorf("VersionName(%d) = %q, want %q", v, got, want)
		}
	}
}
