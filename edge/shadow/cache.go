package shadow

import (
	"sync"

	shadowdoc "github.com/sward-iot/sward/shared/shadow"
)

// maxCacheBytes bounds the records kept in memory between updates: 4 MiB
// holds hundreds of full 8 KB shadows or thousands of small ones, and is
// under 1% of a 512 MB board.
const maxCacheBytes = 4 << 20

// cache keeps the last record this process wrote for a key, with its KV
// revision, so an update skips reading the bucket. It is only a hint: the
// write still compares-and-swaps on the revision, and a lost swap (another
// process wrote the key) drops the entry and reads the bucket. Records in
// the cache are never modified; apply copies before merging.
type cache struct {
	mu      sync.Mutex
	entries map[string]cached
	bytes   int
}

type cached struct {
	rec *shadowdoc.Record
	raw []byte
	rev uint64
}

func newCache() *cache { return &cache{entries: make(map[string]cached)} }

func (c *cache) get(k string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	return e, ok
}

func (c *cache) put(k string, e cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(k)
	if len(e.raw) > maxCacheBytes/4 {
		return
	}
	// Evict arbitrary entries (map order is random) until the new one fits.
	for k2 := range c.entries {
		if c.bytes+len(e.raw) <= maxCacheBytes {
			break
		}
		c.dropLocked(k2)
	}
	c.entries[k] = e
	c.bytes += len(e.raw)
}

func (c *cache) drop(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(k)
}

func (c *cache) dropLocked(k string) {
	if old, ok := c.entries[k]; ok {
		c.bytes -= len(old.raw)
		delete(c.entries, k)
	}
}
