package lcsock_test

import "runtime"

func runtime_Gosched()          { runtime.Gosched() }
func runtime_NumGoroutine() int { return runtime.NumGoroutine() }
