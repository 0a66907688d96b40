// The go-liftbridge peer of `make bench`: one workload against a running server, one JSON line out.
//
//	liftbridge-bench-go -addr 127.0.0.1:9292 -stream s -mode consume -count 1000000
//
// Modes: consume (one partition from the earliest offset), consume-all (-partitions of them at once),
// publish-async (pipelined, ack policy leader, waits for every ack), publish-sync (one acked publish at a
// time; prints latency percentiles).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	lift "github.com/liftbridge-io/go-liftbridge/v2"
)

type result struct {
	Mode     string  `json:"mode"`
	Messages int64   `json:"messages"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
	Errors   int64   `json:"errors"`
	P50us    float64 `json:"p50_us,omitempty"`
	P99us    float64 `json:"p99_us,omitempty"`
	MaxUs    float64 `json:"max_us,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9292", "broker address")
	stream := flag.String("stream", "", "stream name")
	mode := flag.String("mode", "consume", "consume | consume-all | publish-async | publish-sync")
	count := flag.Int64("count", 100000, "messages to consume (in all) or publish")
	partitions := flag.Int("partitions", 1, "partitions read at once by consume-all, or published to in turn")
	size := flag.Int("size", 100, "bytes per published value")
	timeout := flag.Duration("timeout", 120*time.Second, "bound of the whole run")
	flag.Parse()
	if *stream == "" {
		fail(fmt.Errorf("-stream is required"))
	}
	client, err := lift.Connect([]string{*addr})
	if err != nil {
		fail(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var res result
	switch *mode {
	case "consume":
		res = consume(ctx, client, *stream, []int32{0}, *count)
	case "consume-all":
		all := make([]int32, *partitions)
		for i := range all {
			all[i] = int32(i)
		}
		res = consume(ctx, client, *stream, all, *count)
	case "publish-async":
		res = publishAsync(ctx, client, *stream, *count, *size, int32(*partitions))
	case "publish-sync":
		res = publishSync(ctx, client, *stream, *count, *size)
	default:
		fail(fmt.Errorf("unknown -mode %q", *mode))
	}
	res.Mode = *mode
	if res.Seconds > 0 {
		res.Rate = float64(res.Messages) / res.Seconds
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if ctx.Err() != nil {
		fail(fmt.Errorf("the run did not finish within %s", *timeout))
	}
}

// consume reads the partitions from their earliest offsets until count messages arrived in all.
func consume(ctx context.Context, client lift.Client, stream string, partitions []int32, count int64) result {
	var got, errs atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	sub, stop := context.WithCancel(ctx)
	defer stop()
	started := time.Now()
	for _, p := range partitions {
		err := client.Subscribe(sub, stream, func(msg *lift.Message, err error) {
			if err != nil {
				if sub.Err() == nil {
					errs.Add(1)
				}
				return
			}
			if got.Add(1) == count {
				once.Do(func() { close(done) })
			}
		}, lift.Partition(p), lift.StartAtEarliestReceived())
		if err != nil {
			fail(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return result{Messages: got.Load(), Seconds: time.Since(started).Seconds(), Errors: errs.Load()}
}

// publishAsync sends count messages pipelined, to the partitions in turn, and waits for every ack.
func publishAsync(ctx context.Context, client lift.Client, stream string, count int64, size int, partitions int32) result {
	value := make([]byte, size)
	var wg sync.WaitGroup
	var errs atomic.Int64
	started := time.Now()
	for i := int64(0); i < count; i++ {
		wg.Add(1)
		err := client.PublishAsync(ctx, stream, value, func(ack *lift.Ack, err error) {
			if err != nil {
				errs.Add(1)
			}
			wg.Done()
		}, lift.AckPolicyLeader(), lift.ToPartition(int32(i)%partitions))
		if err != nil {
			errs.Add(1)
			wg.Done()
		}
	}
	wg.Wait()
	return result{Messages: count, Seconds: time.Since(started).Seconds(), Errors: errs.Load()}
}

// publishSync publishes one message at a time, each waiting for its ack, and times each round trip.
func publishSync(ctx context.Context, client lift.Client, stream string, count int64, size int) result {
	value := make([]byte, size)
	latencies := make([]float64, 0, count)
	var errs int64
	started := time.Now()
	for i := int64(0); i < count; i++ {
		call, cancel := context.WithTimeout(ctx, 5*time.Second) // the server acks only calls with a deadline
		t := time.Now()
		_, err := client.Publish(call, stream, value, lift.AckPolicyLeader())
		cancel()
		if err != nil {
			errs++
			continue
		}
		latencies = append(latencies, float64(time.Since(t).Microseconds()))
	}
	res := result{Messages: count, Seconds: time.Since(started).Seconds(), Errors: errs}
	if len(latencies) > 0 {
		sort.Float64s(latencies)
		res.P50us = latencies[len(latencies)/2]
		res.P99us = latencies[len(latencies)*99/100]
		res.MaxUs = latencies[len(latencies)-1]
	}
	return res
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "liftbridge-bench-go:", err)
	os.Exit(1)
}
