package redistest

import "syscall"

// procAttr makes the kernel kill a started server when the test binary
// dies, so that a crashed or killed test run leaves no process behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
