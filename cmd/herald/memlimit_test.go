package main

import (
	"testing"
	"testing/fstest"
)

func TestMemoryLimitFollowsTheCgroup(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	noEnv := func(string) string { return "" }
	cases := []struct {
		name  string
		files fstest.MapFS
		want  int64 // 0: no limit set
	}{
		{"v2 container", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("536870912\n"),
		}, 536870912 / 10 * 9},
		{"v2 without a limit", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0},
		{"v2 systemd unit under a limited slice", fstest.MapFS{
			"proc/self/cgroup": file("0::/herald.slice/herald.service\n"),
			"sys/fs/cgroup/herald.slice/herald.service/memory.max": file("max\n"),
			"sys/fs/cgroup/herald.slice/memory.max":                file("1073741824\n"),
			"sys/fs/cgroup/memory.max":                             file("max\n"),
		}, 1073741824 / 10 * 9},
		{"v2 unit limited below its slice", fstest.MapFS{
			"proc/self/cgroup": file("0::/herald.slice/herald.service\n"),
			"sys/fs/cgroup/herald.slice/herald.service/memory.max": file("268435456\n"),
			"sys/fs/cgroup/herald.slice/memory.max":                file("1073741824\n"),
		}, 268435456 / 10 * 9},
		{"v1 with a limit", fstest.MapFS{
			"proc/self/cgroup": file("5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("268435456\n"),
		}, 268435456 / 10 * 9},
		{"v1 container seeing the host's path", fstest.MapFS{
			"proc/self/cgroup":                           file("4:memory:/docker/abc\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456\n"),
		}, 268435456 / 10 * 9},
		{"v1 unlimited", fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/process_api/x\n0::/\n"),
			"sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes": file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":               file("9223372036854771712\n"),
		}, 0},
		{"no cgroup files", fstest.MapFS{}, 0},
		{"garbage", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, 0},
	}
	for _, c := range cases {
		got, ok := memoryLimit(noEnv, c.files)
		if ok != (c.want != 0) || got != c.want {
			t.Errorf("%s: got %d, %v; want %d", c.name, got, ok, c.want)
		}
	}

	limited := fstest.MapFS{
		"proc/self/cgroup":         file("0::/\n"),
		"sys/fs/cgroup/memory.max": file("536870912\n"),
	}
	set := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if got, ok := memoryLimit(set, limited); ok {
		t.Errorf("GOMEMLIMIT set: Herald would override it with %d", got)
	}
}
