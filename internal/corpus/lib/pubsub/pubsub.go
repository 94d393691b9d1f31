// Package pubsub is a small in-process publish/subscribe broker, the kind
// of helper library a service imports. The corpus uses it for a leak that
// lives inside a library: Subscribe starts a forwarding goroutine per
// subscription, and only Close ends it, so a caller that drops a
// Subscription without closing it leaks that goroutine, parked in this
// package and created by this package.
package pubsub

import "sync"

// Message is one published value.
type Message struct {
	Topic string
	Value int
}

// Broker fans published messages out to the subscriptions of their topic.
// It is safe for concurrent use.
type Broker struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
}

// NewBroker returns an empty Broker.
func NewBroker() *Broker {
	return &Broker{subs: make(map[string]map[*Subscription]struct{})}
}

// Subscription receives the messages of one topic on C until Close.
type Subscription struct {
	// C delivers the topic's messages, in order. Messages that arrive
	// while 16 are already waiting are dropped.
	C <-chan Message

	b     *Broker
	topic string
	in    chan Message
	out   chan Message
	quit  chan struct{}
	once  sync.Once
}

// Subscribe returns a subscription to topic. The caller must Close it: its
// forwarding goroutine runs until then.
func (b *Broker) Subscribe(topic string) *Subscription {
	s := &Subscription{b: b, topic: topic, in: make(chan Message, 16),
		out: make(chan Message), quit: make(chan struct{})}
	s.C = s.out
	b.mu.Lock()
	if b.subs[topic] == nil {
		b.subs[topic] = make(map[*Subscription]struct{})
	}
	b.subs[topic][s] = struct{}{}
	b.mu.Unlock()
	go s.forward()
	return s
}

// Publish delivers m to every subscription of m.Topic without blocking.
func (b *Broker) Publish(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[m.Topic] {
		select {
		case s.in <- m:
		default: // the subscriber is 16 behind: drop
		}
	}
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.b.mu.Lock()
		delete(s.b.subs[s.topic], s)
		s.b.mu.Unlock()
		close(s.quit)
	})
}

// forward moves messages from the broker's buffer to C, one at a time, so
// that a slow subscriber never blocks Publish.
func (s *Subscription) forward() {
	for {
		var m Message
		select {
		case m = <-s.in:
		case <-s.quit:
			return
		}
		select {
		case s.out <- m:
		case <-s.quit:
			return
		}
	}
}
