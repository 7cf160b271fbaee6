package controller

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: random)")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
