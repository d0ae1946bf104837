// Command herald is the Herald webhook gateway: one binary that serves the
// API and delivery engine, runs migrations, and offers developer tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Env is what a subcommand may touch of the outside world, so tests can run
// the real program in-process.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, args []string, env Env) error
}

var commands = map[string]command{
	"bench":   {"measure throughput and latency against the no-storage baseline", runBench},
	"keygen":  {"print a new key for --encryption-key", runKeygen},
	"listen":  {"stream deliveries to a local URL without a tunnel", runListen},
	"migrate": {"create or upgrade the database schema", runMigrate},
	"send":    {"publish an event through a running Herald", runSend},
	"serve":   {"run the API and the delivery engine", runServe},
	"verify":  {"check a webhook signature", runVerify},
	"version": {"print the version", runVersion},
}

func main() {
	if percent, ok := gcPercent(os.Getenv); ok {
		debug.SetGCPercent(percent)
	}
	if limit, ok := memoryLimit(os.Getenv, os.DirFS("/")); ok {
		debug.SetMemoryLimit(limit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	err := Main(ctx, os.Args[1:], env)
	stop()
	if code := exitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(code)
	}
}

// defaultGCPercent is the garbage collector's GOGC unless the operator
// sets one. Herald's live heap is small (queues, connection buffers), so
// letting the heap grow to five times it rather than twice costs little
// memory and spares a tenth of the CPU (docs/benchmarks.md).
const defaultGCPercent = 400

// gcPercent returns the GOGC to apply, and false when GOGC is set in the
// environment, where the runtime has already applied it.
func gcPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

// Main runs one subcommand. It is the whole program minus the process.
func Main(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(env.Stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd.run(ctx, args[1:], env)
}

var errUsage = errors.New("a command is required")

// exitCode is 0 for success and for help asked for (-h), 2 for a command
// missing, and 1 for any other error.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Herald: a self-hosted webhook gateway.\n\nUsage: herald <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set as HERALD_<FLAG>, e.g. --data-dir as HERALD_DATA_DIR.")
}

// parseArgs parses args into fs, and only them: see parseFlags.
func parseArgs(fs *flag.FlagSet, args []string, env Env) error {
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (a boolean flag takes its value as --flag=false)", fs.Arg(0))
	}
	return nil
}

// parseFlags parses args into fs, then applies HERALD_* environment
// variables to the flags the command line did not give: a flag on the
// command line wins over the environment, repeatable ones included (their
// values replace the environment's rather than add to it). A repeatable
// flag takes a comma-separated list from the environment. No command takes
// arguments besides flags, so one left over is refused: flag parsing stops
// at the first, and would silently drop every flag after it.
func parseFlags(fs *flag.FlagSet, args []string, env Env) error {
	_, err := parseFlagsGiven(fs, args, env)
	return err
}

// parseFlagsGiven is parseFlags, and also reports which flags the command
// line gave, for commands whose flags exclude each other: one given there
// overrides the other's environment variable.
func parseFlagsGiven(fs *flag.FlagSet, args []string, env Env) (given map[string]bool, err error) {
	if err := parseArgs(fs, args, env); err != nil {
		return nil, err
	}
	given = make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "HERALD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := env.Getenv(name)
		if v == "" || given[f.Name] || envErr != nil {
			return
		}
		parts := []string{v}
		if _, repeatable := f.Value.(*listFlag); repeatable {
			parts = strings.Split(v, ",")
		}
		for _, p := range parts {
			if err := fs.Set(f.Name, strings.TrimSpace(p)); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s (--%s): %w", p, name, f.Name, err)
				return
			}
		}
	})
	return given, envErr
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runVersion(_ context.Context, args []string, env Env) error {
	if err := parseArgs(flag.NewFlagSet("version", flag.ContinueOnError), args, env); err != nil {
		return err
	}
	_, err := fmt.Fprintln(env.Stdout, "herald", version)
	return err
}
