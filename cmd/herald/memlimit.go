package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// memoryLimit returns a soft memory limit for the Go runtime: nine tenths of
// the memory limit of the cgroup Herald runs in (a container's, or a
// systemd unit's MemoryMax), so that the collector works harder as the heap
// nears it instead of the process being killed. With GOGC at 400 the heap
// may grow to five times what is live, which a small container may not
// hold. It returns false when GOMEMLIMIT is set, where the runtime has
// already applied it, and when no limit is found. root is the file system
// at "/".
func memoryLimit(getenv func(string) string, root fs.FS) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit, ok := cgroupMemoryLimit(root)
	if !ok {
		return 0, false
	}
	return limit / 10 * 9, true
}

// cgroupMemoryLimit reads the memory limit of this process's cgroup, v2
// (memory.max) or v1 (memory.limit_in_bytes): the lowest set on its path,
// since a parent's limit binds its children too. The walk ends at the
// hierarchy's root, which is also where a container without its own cgroup
// namespace finds its limit (there /proc/self/cgroup names the host's path).
func cgroupMemoryLimit(root fs.FS) (int64, bool) {
	self, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	lowest, found := int64(0), false
	// Each line is hierarchy-ID:controllers:path; v2's is "0::path".
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			if limit, ok := readLimit(root, path.Join(dir, p, file)); ok && (!found || limit < lowest) {
				lowest, found = limit, true
			}
			if p == "/" {
				break
			}
		}
	}
	return lowest, found
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// unlimited is where v1 reports no limit (the largest page-aligned int64)
// or a limit too large to matter.
const unlimited = 1 << 60

// readLimit reads one limit file: a byte count, or "max" for none.
func readLimit(root fs.FS, file string) (int64, bool) {
	b, err := fs.ReadFile(root, file)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= unlimited {
		return 0, false
	}
	return n, true
}
