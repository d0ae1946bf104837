package store

import "time"

// ParkedMS is the next attempt time (unix milliseconds) of a delivery to an
// ordered endpoint that waits behind an earlier unfinished one. Such a
// delivery cannot be claimed until its turn, whenever that comes, so both
// stores park it past any real time: out of the due index's head, where
// every claim would walk past it. A final result recorded for an ordered
// endpoint (Result.Ordered) makes the next one due; so does, every
// UnparkSweep at most, a claim that looks at the heads of all ordered
// endpoints, for a turn that came another way (ordering turned on after
// the claim, a head canceled). API reads show a parked delivery without a
// next attempt time.
const ParkedMS int64 = 253402300799999 // 9999-12-31T23:59:59.999Z

// UnparkSweep is how often, at most, a store's claims look at the heads of
// every ordered endpoint: a cost that grows with their number, so not at
// every claim.
const UnparkSweep = 5 * time.Second
