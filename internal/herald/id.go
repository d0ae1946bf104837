package herald

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// ID prefixes, as the Svix API uses them.
const (
	PrefixApp      = "app_"
	PrefixEndpoint = "ep_"
	PrefixMessage  = "msg_"
	PrefixAttempt  = "atmpt_"
	PrefixSource   = "src_"
	PrefixInbound  = "in_"
	PrefixTask     = "qtask_"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idLen is the length of the encoded part of an ID: 20 bytes in base62.
const idLen = 27

var idGen struct {
	sync.Mutex
	lastMS uint64
	seq    uint16
}

// NewID returns prefix followed by 27 base62 characters. IDs sort by creation
// time as strings (a 48-bit millisecond clock, then a 16-bit sequence that is
// monotonic within this process, then 96 random bits), so lists can page by
// ID and newer rows come later.
func NewID(prefix string, now time.Time) string {
	var raw [20]byte
	ms := uint64(now.UnixMilli())
	idGen.Lock()
	if ms <= idGen.lastMS {
		ms = idGen.lastMS
		idGen.seq++
		if idGen.seq == 0 { // 65536 IDs in one millisecond: borrow the next one
			ms++
		}
	} else {
		idGen.seq = 0
	}
	idGen.lastMS = ms
	seq := idGen.seq
	idGen.Unlock()

	binary.BigEndian.PutUint64(raw[0:8], ms<<16|uint64(seq))
	_, _ = rand.Read(raw[8:])
	return prefix + encodeBase62(raw)
}

// encodeBase62 encodes 20 bytes as a fixed-width, order-preserving string.
func encodeBase62(raw [20]byte) string {
	var out [idLen]byte
	// Repeated division of a 160-bit big-endian number held in five uint32s.
	var n [5]uint32
	for i := range n {
		n[i] = binary.BigEndian.Uint32(raw[i*4:])
	}
	for i := idLen - 1; i >= 0; i-- {
		var rem uint64
		for j := range n {
			cur := rem<<32 | uint64(n[j])
			n[j] = uint32(cur / 62)
			rem = cur % 62
		}
		out[i] = base62[rem]
	}
	return string(out[:])
}
