// Command camvault is the camvault smart-security-camera server and its
// tools. Run "camvault help" for the subcommands.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}
