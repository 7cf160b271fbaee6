package remoting

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultMemoryBudget(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(1<<30), defaultBudgetFor(0), "unknown memory")
	require.Equal(t, int64(1<<30), defaultBudgetFor(64<<30))
	require.Equal(t, int64(512<<20), defaultBudgetFor(2<<30), "a quarter")
	require.Equal(t, int64(minDefaultBudget), defaultBudgetFor(100<<20), "floor")
	d := DefaultMemoryBudget()
	require.GreaterOrEqual(t, d, int64(minDefaultBudget))
	require.LessOrEqual(t, d, int64(1<<30))
	require.Equal(t, d, DefaultServerConfig().MemoryBudget)
	t.Logf("default budget on this machine: %d MiB (memory available %d MiB)", d>>20, availableMemory()>>20)
}

func TestBudgetReserve(t *testing.T) {
	t.Parallel()
	b := NewBudget(1 << 20)
	done := make(chan struct{})
	noDeadline := time.Time{}

	// Small frames may use the whole budget; large ones three quarters.
	require.NoError(t, b.reserve(600<<10, noDeadline, done, nil))
	require.False(t, b.tryReserve(200<<10), "large: 600+200 KiB > 768 KiB")
	require.True(t, b.tryReserve(60<<10), "small fits under 1 MiB")
	require.Equal(t, int64(660<<10), b.Used())

	// A reservation that does not fit waits for a release, and says so once.
	waited := 0
	got := make(chan error, 1)
	go func() { got <- b.reserve(400<<10, noDeadline, done, func() { waited++ }) }()
	waitFor(t, 5*time.Second, func() bool { return b.waiters.Load() == 1 })
	b.release(60 << 10)
	select {
	case err := <-got:
		t.Fatalf("reserved before enough was released: %v", err)
	default:
	}
	b.release(600 << 10)
	require.NoError(t, <-got)
	require.Equal(t, 1, waited)
	require.Equal(t, int64(400<<10), b.Used())

	// When nothing is charged any frame fits, even one over the share.
	b2 := NewBudget(1 << 20)
	require.True(t, b2.tryReserve(1<<20))

	// A deadline or the connection closing ends the wait.
	err := b.reserve(1<<20, time.Now().Add(50*time.Millisecond), done, nil)
	require.ErrorIs(t, err, errBudgetWait)
	close(done)
	require.ErrorIs(t, b.reserve(1<<20, noDeadline, done, nil), ErrConnClosed)
	require.Zero(t, b.waiters.Load())

	// Answers never wait, may overdraw, and half the budget of them marks it full.
	b.chargeAnswer(1 << 20)
	require.True(t, b.answersFull())
	require.Equal(t, int64(1<<20+400<<10), b.Used())
	b.releaseAnswer(1 << 20)
	require.False(t, b.answersFull())
	b.release(400 << 10)
	require.Zero(t, b.Used())
	require.Zero(t, b.Answers())
}

func TestServerConfigBudgetValidation(t *testing.T) {
	t.Parallel()
	cfg := testServerConfig()
	cfg.MemoryBudget = 0
	require.NoError(t, cfg.Validate(), "0 means the default")
	cfg.MemoryBudget = 2*int64(cfg.MaxFrameSize) - 1
	require.ErrorContains(t, cfg.Validate(), "MemoryBudget")
	cfg.MemoryBudget = -1
	require.ErrorContains(t, cfg.Validate(), "MemoryBudget")
	cfg.MemoryBudget = 0
	cfg.Budget = NewBudget(1 << 20)
	require.ErrorContains(t, cfg.Validate(), "MemoryBudget", "a shared budget is checked too")
	cfg.Budget = NewBudget(64 << 20)
	require.NoError(t, cfg.Validate())
	cfg.WriteHighWater = -1
	require.ErrorContains(t, cfg.Validate(), "WriteHighWater")

	// Servers given one Budget share it.
	cfg = testServerConfig()
	cfg.Budget = NewBudget(64 << 20)
	s1, err := NewServer(cfg, nil)
	require.NoError(t, err)
	s2, err := NewServer(cfg, nil)
	require.NoError(t, err)
	require.Same(t, s1.Budget(), s2.Budget())
	require.NoError(t, s1.Close())
	require.NoError(t, s2.Close())
}
