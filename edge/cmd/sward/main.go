// Command sward is the Sward nucleus and its command-line interface.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sward-iot/sward/edge/cli"
)

func main() {
	if err := cli.Execute(context.Background(), cli.NewRootCommand(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sward:", err)
		os.Exit(1)
	}
}
