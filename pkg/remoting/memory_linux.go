package remoting

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// physicalMemory returns the machine's RAM in bytes, or 0 if unknown.
func physicalMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup in bytes, or
// 0 if there is none or it cannot be read. It reads cgroup v2's memory.max for the
// process's own cgroup, then cgroup v1's memory.limit_in_bytes.
func cgroupMemoryLimit() int64 {
	if p := cgroupV2Path(); p != "" {
		if n := readLimit("/sys/fs/cgroup" + p + "/memory.max"); n > 0 {
			return n
		}
	}
	if n := readLimit("/sys/fs/cgroup/memory.max"); n > 0 {
		return n
	}
	// v1 reports "no limit" as a huge number; anything beyond 1 EiB is that.
	if n := readLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes"); n > 0 && n < 1<<60 {
		return n
	}
	return 0
}

// cgroupV2Path returns the process's cgroup v2 path ("0::/a/b" in
// /proc/self/cgroup), or "".
func cgroupV2Path() string {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok && p != "/" {
			return p
		}
	}
	return ""
}

// readLimit reads a cgroup limit file: a byte count, or "max" (returns 0).
func readLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
