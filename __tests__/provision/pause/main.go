// The pause process of every pod sandbox in the offline cluster: it holds the
// pod's namespaces, reaps the zombies that other containers leave to it, and
// exits on SIGINT or SIGTERM. Ours, because registry.k8s.io cannot be reached
// here; build-images.sh packs it as the pause image that kubeadm names. Like
// the real pause, `pause -v` prints its version and exits: the Job of kubeadm
// upgrade's health check runs that.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (cdktf-kubeadm-aws lab stand-in)")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
