package store

// ParkedMS is the next attempt time (unix milliseconds) of a delivery to an
// ordered endpoint that waits behind an earlier unfinished one. Such a
// delivery cannot be claimed until its turn, whenever that comes, so both
// stores park it past any real time: out of the due index's head, where
// every claim would walk past it, until the claim that finds it at the
// head of its endpoint makes it due. API reads show it without a next
// attempt time.
const ParkedMS int64 = 253402300799999 // 9999-12-31T23:59:59.999Z
