// Command hostile writes to stdout a goroutine dump built to defeat a
// parser's sharing: n goroutines, each at a site of its own with a stack
// of its own. It measures the CLI's memory on hostile input through a
// pipe, without a gigabyte file in the repository:
//
//	go build -o /tmp/leaksentinel ./cmd/leaksentinel
//	go run ./testdata/hostile -n 7000000 | /usr/bin/time -v /tmp/leaksentinel group - >/dev/null
//	go run ./testdata/hostile -n 100000 -depth 100 | /usr/bin/time -v /tmp/leaksentinel group - >/dev/null
//
// The first is about 1 GB of distinct shallow goroutines, the second
// about 1 GB of distinct deep stacks.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/leaksentinel/leaksentinel/internal/dump"
)

func main() {
	n := flag.Int("n", 1_000_000, "goroutines to write")
	depth := flag.Int("depth", 1, "frames per goroutine")
	oneSite := flag.Bool("one-site", false, "put every goroutine at one site, with distinct stacks")
	flag.Parse()
	if err := dump.WriteHostile(os.Stdout, *n, *depth, *oneSite); err != nil {
		log.Fatal(err)
	}
}
