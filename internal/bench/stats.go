package bench

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Percentile returns the p-th percentile (0..100) of ds, sorting ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// Usage is the process's resource use at one moment.
type Usage struct {
	CPU time.Duration // user + system time so far
	RSS int64         // resident set size in bytes
	HWM int64         // peak resident set size in bytes
}

// ReadUsage reads this process's CPU time and memory.
func ReadUsage() Usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := Usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	readMemory("/proc/self/status", &u)
	return u
}

// ResetPeakRSS makes this process's peak RSS its current RSS, so the next
// run's peak is its own (Linux; elsewhere it does nothing). Memory that
// earlier runs left resident still counts.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// ReadProcessUsage reads another process's CPU time and memory from /proc
// (Linux only; zero elsewhere).
func ReadProcessUsage(pid int) Usage {
	var u Usage
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// Fields after the command name, which is in parentheses and may
		// hold spaces: utime and stime are the 12th and 13th.
		if i := strings.LastIndexByte(string(b), ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 12 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.CPU = time.Duration(ut+st) * time.Second / clockTicks
			}
		}
	}
	readMemory("/proc/"+strconv.Itoa(pid)+"/status", &u)
	return u
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

func readMemory(path string, u *Usage) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = n << 10
		case "VmHWM":
			u.HWM = n << 10
		}
	}
}
