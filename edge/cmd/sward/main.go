// Command sward is the Sward nucleus and its command-line interface.
package main

import (
	"fmt"
	"os"

	"github.com/sward-iot/sward/edge/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sward:", err)
		os.Exit(1)
	}
}
