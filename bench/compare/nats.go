package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// selfCPU returns this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runNATS(bin, sc string) (result, error) {
	dir, err := os.MkdirTemp("", "compare-nats-")
	if err != nil {
		return result{}, err
	}
	port := freePort()
	js := "jetstream { store_dir: " + strconv.Quote(filepath.Join(dir, "js"))
	if sc == "fsync" {
		js += ", sync_interval: always"
	}
	js += " }\n"
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("listen: 127.0.0.1:"+strconv.Itoa(port)+"\n"+js), 0o644); err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	srv := &server{cmd: cmd, dir: dir}
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	var nc *nats.Conn
	deadline := time.Now().Add(30 * time.Second)
	for nc, err = nats.Connect(url); err != nil; nc, err = nats.Connect(url) {
		if time.Now().After(deadline) {
			srv.stop()
			return result{}, fmt.Errorf("nats-server did not start: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer nc.Close()
	ctx := context.Background()
	pending := 256
	if sc == "backlog" {
		pending = 1024
	}
	j, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(pending))
	if err != nil {
		srv.stop()
		return result{}, err
	}
	stream, err := j.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		srv.stop()
		return result{}, err
	}
	body := make([]byte, *size)
	cpu0 := selfCPU()
	var tps float64
	handled := count(sc)
	switch sc {
	case "sync", "fsync":
		tps, err = natsSync(ctx, j, body, 64, handled)
	case "pipelined":
		tps, err = natsAsync(j, body, handled)
	case "backlog":
		handled = 2 * *msgs
		if _, err = natsAsync(j, body, *msgs); err == nil {
			tps, err = natsConsume(ctx, stream)
		}
	default:
		err = fmt.Errorf("unknown scenario %q", sc)
	}
	client := selfCPU() - cpu0
	nc.Close()
	cpu, rss := srv.stop()
	if err != nil {
		return result{}, err
	}
	return result{tps: tps, serverCPU: us(cpu, handled), clientCPU: us(client, handled), rssMiB: rss}, nil
}

// natsSync publishes -msgs messages from threads goroutines, each waiting for
// its acknowledgement.
func natsSync(ctx context.Context, j jetstream.JetStream, body []byte, threads, n int) (float64, error) {
	var next atomic.Int64
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := j.Publish(ctx, "bench.a", body); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d publishes failed, first: %v", n, first.Load())
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// natsAsync publishes -msgs messages from one goroutine with the client's
// asynchronous window, and waits for every acknowledgement.
func natsAsync(j jetstream.JetStream, body []byte, n int) (float64, error) {
	start := time.Now()
	var futures []jetstream.PubAckFuture
	for range n {
		f, err := j.PublishAsync("bench.a", body)
		for tries := 0; err != nil && tries < 100; tries++ {
			// The window stayed full longer than the client's stall wait:
			// let it drain and try again.
			select {
			case <-j.PublishAsyncComplete():
			case <-time.After(100 * time.Millisecond):
			}
			f, err = j.PublishAsync("bench.a", body)
		}
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	select {
	case <-j.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("async publishes not acknowledged in 5 minutes")
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// natsConsume reads -msgs messages with a pull consumer (batches of 256, no
// acks), timing from the first message.
func natsConsume(ctx context.Context, stream jetstream.Stream) (float64, error) {
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		return 0, err
	}
	var start time.Time
	got := 0
	for got < *msgs {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, err
		}
		n := 0
		for range batch.Messages() {
			if start.IsZero() {
				start = time.Now()
			}
			n++
		}
		if err := batch.Error(); err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("consumer stalled at %d of %d", got, *msgs)
		}
		got += n
	}
	return float64(got) / time.Since(start).Seconds(), nil
}
