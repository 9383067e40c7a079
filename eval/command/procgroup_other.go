//go:build !unix

package command

import "os/exec"

// killGroupOnCancel leaves cmd as it is: without process groups a
// cancellation kills the command's own process only.
func killGroupOnCancel(cmd *exec.Cmd) {}
