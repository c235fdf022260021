package idp

import "syscall"

// lowerThreadPriority sets the calling OS thread's nice value to 19. On Linux setpriority with
// a thread ID applies to that thread alone (setpriority(2), "Bugs"). Failure leaves the normal
// priority, which is only slower under a flood, so it is ignored.
func lowerThreadPriority() { _ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19) }
