package dump

import (
	"bufio"
	"fmt"
	"io"
)

// WriteHostile writes a traceback of n goroutines that defeats every
// sharing a parser relies on: each has a stack of depth frames of its own
// (distinct names and lines) at a site of its own, unless oneSite, when
// they share the site and the names and differ in lines only. It is the
// input of the memory-bound tests and of testdata/hostile; it is not
// runtime output and never a fixture.
func WriteHostile(w io.Writer, n, depth int, oneSite bool) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range n {
		fmt.Fprintf(bw, "goroutine %d [chan receive]:\n", i+2)
		for d := range depth {
			line, fn := i*depth+d+1, fmt.Sprintf("g%d.f%d", i, d)
			if oneSite {
				fn = fmt.Sprintf("f%d", d)
				if d == 0 {
					line = 1
				}
			}
			fmt.Fprintf(bw, "example.com/hostile.%s(...)\n\t/src/hostile/h.go:%d +0x1d\n", fn, line)
		}
		if _, err := fmt.Fprintf(bw, "created by example.com/hostile.main in goroutine 1\n\t/src/hostile/main.go:%d +0x25\n\n", i+1); err != nil {
			return err
		}
	}
	return bw.Flush()
}
