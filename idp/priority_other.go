//go:build !linux

package idp

// lowerThreadPriority is a no-op where a thread's priority cannot be set on its own.
func lowerThreadPriority() {}
