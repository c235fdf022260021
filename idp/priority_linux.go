package idp

import (
	"syscall"
	"unsafe"
)

// schedIdle is Linux's SCHED_IDLE policy (sched(7)): the thread runs only on a CPU that no
// other thread wants, and a waking thread of any normal priority preempts it at once.
const schedIdle = 5

// lowerThreadPriority puts the calling OS thread in SCHED_IDLE, or at nice 19 where that is
// refused. Both apply to this thread alone (sched_setscheduler and setpriority take a thread
// ID on Linux). A failure leaves the normal priority, which is only slower under a flood.
func lowerThreadPriority() {
	tid := syscall.Gettid()
	var param struct{ priority int32 }
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedIdle, uintptr(unsafe.Pointer(&param))); errno == 0 {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
}
