// Package bench holds the parts of `herald bench`: a counting sink, a
// publisher that drives load over HTTP, the no-storage pipeline that sets
// the baseline, and the statistics they report. It measures; it does not
// judge.
package bench
