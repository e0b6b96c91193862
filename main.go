// Command bom-attest turns a container image into signed supply-chain evidence; see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bom-attest/bom-attest/internal/memlimit"
	"github.com/bom-attest/bom-attest/internal/run"
)

func main() {
	unlimit := memlimit.Follow()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run.Main(ctx, run.OS())
	stop()
	unlimit()
	os.Exit(code)
}
