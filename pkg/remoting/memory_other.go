//go:build !linux

package remoting

// physicalMemory is not known on this platform.
func physicalMemory() int64 { return 0 }

// cgroupMemoryLimit: cgroups exist only on Linux.
func cgroupMemoryLimit() int64 { return 0 }
