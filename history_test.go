package leaksentinel

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHistory(t *testing.T) {
	a := Site{State: StateChanSend, Function: "a"}
	b := Site{State: StateChanSend, Function: "b"}
	h := newHistory(4, 10)
	h.add(map[Site]int{a: 1})
	h.add(map[Site]int{a: 2, b: 5})
	h.add(map[Site]int{b: 6})
	assert.Equal(t, []int{1, 2, 0}, h.counts(a))
	assert.Equal(t, []int{0, 5, 6}, h.counts(b))
	h.add(map[Site]int{a: 4})
	h.add(map[Site]int{a: 5})
	assert.Equal(t, []int{2, 0, 4, 5}, h.counts(a), "only the last 4 samples")
	assert.Equal(t, []int{5, 6, 0, 0}, h.counts(b))
	for range 4 {
		h.add(nil)
	}
	assert.Nil(t, h.counts(a), "forgotten once absent for the whole span")

	small := newHistory(4, 1)
	small.add(map[Site]int{a: 1, b: 9})
	assert.Nil(t, small.counts(a), "only the largest sites are kept")
	assert.Equal(t, []int{9}, small.counts(b))
}
