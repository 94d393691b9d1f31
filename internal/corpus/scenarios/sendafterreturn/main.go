// Leak: an unbuffered send after an early return. An order handler starts
// the price lookup in a goroutine so that it runs while the order is
// validated, then returns early when validation fails, without receiving
// the price: the lookup blocks forever on its unbuffered send. Orders
// arrive 4 a tick; from tick 10 one client sends orders without a
// quantity, one order in four, so one goroutine leaks a tick.
package main

import (
	"context"
	"errors"

	"github.com/leaksentinel/leaksentinel/internal/corpus/scenario"
)

func main() {
	scenario.Main(scenario.Spec{
		Leak:      true,
		Function:  "main.(*shop).handleOrder.func1",
		CreatedBy: "main.(*shop).handleOrder",
		LeakStart: 10,
		Run:       run,
	})
}

type order struct {
	item, qty int
}

type shop struct {
	prices  map[int]int
	revenue int
	refused int
}

var errNoQuantity = errors.New("order has no quantity")

func run(ctx context.Context, tick <-chan int) {
	s := &shop{prices: map[int]int{0: 3, 1: 5, 2: 8, 3: 13}}
	for i := range tick {
		for j := range 4 {
			o := order{item: j, qty: 1 + j}
			if i >= 10 && j == 3 {
				o.qty = 0 // the client with the missing field
			}
			if err := s.handleOrder(o); err != nil {
				s.refused++
			}
		}
	}
}

// handleOrder prices and records one order.
func (s *shop) handleOrder(o order) error {
	price := make(chan int)
	go func() {
		price <- s.lookupPrice(o.item) // blocks forever if the order is refused
	}()
	if o.qty <= 0 {
		return errNoQuantity // the bug: the lookup is still running
	}
	s.revenue += o.qty * <-price
	return nil
}

func (s *shop) lookupPrice(item int) int {
	return s.prices[item%len(s.prices)]
}
