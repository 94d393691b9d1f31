// Package bench compares leaksentinel's dump parser with two peers,
// DataDog/gostackparse and maruel/panicparse, doing the same job: reading a
// real debug=2 goroutine dump and grouping its goroutines by [leaksentinel.Site]
// with their distinct stacks.
//
// It is a module of its own so that the peers never enter the library's
// go.mod. See README.md for how to run it and the figures measured.
package bench
