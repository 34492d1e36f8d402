// Command devmgr-bench is the real-process half of `make bench`: it runs
// bin/devmgr (console and, as root, the agent in a throwaway
// network-namespace lab, through `devmgr-dev run`) and the original Flask
// design (bench/flask/app.py under gunicorn) on 127.0.0.1, and compares
// them: idle memory, wrk throughput and latency of authenticated reads, and
// whether a read starts a process. The floor, devmgr-bench itself run again
// as a minimal Go HTTPS server answering /api/v1/me and / with devmgr's
// answers as constants, shows in the same run what no Go console on this
// machine can beat (floor.go).
//
// Everything it starts runs in its own process group with a parent-death
// signal and is stopped, and every temporary directory removed, on any exit
// (error, Ctrl-C, SIGTERM). Only 127.0.0.1 and the lab's namespaces see
// traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type options struct {
	bin      string        // devmgr binary
	dev      string        // devmgr-dev binary, which runs it
	flaskApp string        // bench/flask/app.py
	duration time.Duration // per wrk run
	threads  int
	conns    int
	noFlask  bool
	noFloor  bool
	markdown string        // also write the report here
	settle   time.Duration // idle time after the load before the settled memory is read
	verbose  bool
	burst    int           // logins at once
	long     time.Duration // length of the runs with many connections
	longConn int           // their connections
	cold     int           // cold starts
}

func main() {
	if len(os.Args) > 1 {
		if serve, ok := map[string]func([]string) error{serveFloorArg: serveFloor, serveTLSFloorArg: serveTLSFloor}[os.Args[1]]; ok {
			if err := serve(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "devmgr-bench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	var o options
	flag.StringVar(&o.bin, "bin", "bin/devmgr", "devmgr binary to benchmark")
	flag.StringVar(&o.dev, "dev", "bin/devmgr-dev", "devmgr-dev binary that runs it (make run's runner)")
	flag.StringVar(&o.flaskApp, "flask-app", "bench/flask/app.py", "the Flask baseline")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads of the loaded runs")
	flag.IntVar(&o.conns, "connections", 16, "wrk connections of the loaded runs")
	flag.BoolVar(&o.noFlask, "no-flask", false, "skip the Flask baseline")
	flag.BoolVar(&o.noFloor, "no-floor", false, "skip the floors (minimal Go HTTPS servers, on net/http and on crypto/tls alone, answering /api/v1/me and / with devmgr's answers as constants)")
	flag.StringVar(&o.markdown, "markdown", "", "also write the report (markdown) to this file")
	flag.BoolVar(&o.verbose, "v", false, "show the servers' logs")
	flag.DurationVar(&o.settle, "settle", 125*time.Second, "idle time after the load before memory is read again (0: skip)")
	flag.IntVar(&o.burst, "burst", 20, "logins at once for the burst's memory (0: skip)")
	flag.DurationVar(&o.long, "long", 60*time.Second, "length of the runs with many keep-alive connections (0: skip)")
	flag.IntVar(&o.longConn, "long-connections", 500, "connections of those runs")
	flag.IntVar(&o.cold, "cold", 5, "cold starts of devmgr serve timed to its first authenticated answer (0: skip)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("devmgr-bench: ")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("stopped (%w); everything it started is stopped and removed", context.Cause(ctx))
		}
		log.Printf("%v", err)
		// run's deferred cleanups have finished: nothing is left behind.
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if o.dev, err = filepath.Abs(o.dev); err != nil {
		return err
	}
	if o.flaskApp, err = filepath.Abs(o.flaskApp); err != nil {
		return err
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("devmgr binary: %w (run make build)", err)
	}
	if _, err := os.Stat(o.dev); err != nil {
		return fmt.Errorf("devmgr-dev binary: %w (run make build)", err)
	}
	root := os.Geteuid() == 0
	if _, err := exec.LookPath("wrk"); err != nil {
		if !root {
			return errors.New("wrk is missing: install the Debian package wrk")
		}
		if err := installPackages(ctx, "wrk"); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "devmgr-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(tmp); err != nil {
			log.Printf("removing %s: %v", tmp, err)
		}
	}()
	// The console and Flask run as the devmgr user when we are root.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	var logs io.Writer = io.Discard
	if o.verbose {
		logs = os.Stderr
	}

	rep := &report{start: time.Now(), opts: o, root: root}
	rep.machine = machine()

	log.Printf("starting devmgr (devmgr-dev run%s)", map[bool]string{true: ", as root: lab + agent + console as user devmgr", false: ", not root: console only"}[root])
	dm, err := startDevmgr(ctx, o, tmp, logs)
	if dm != nil {
		defer dm.stop()
	}
	if err != nil {
		return err
	}
	rep.devmgr, err = measure(ctx, o, dm.target)
	if err != nil {
		return fmt.Errorf("devmgr: %w", err)
	}
	if err := extras(ctx, o, rep.devmgr, dm.target, true); err != nil {
		return fmt.Errorf("devmgr: %w", err)
	}
	// devmgr stays up, idle, while the floor and Flask are measured: its
	// settled memory is read at the end.

	if !o.noFloor {
		if rep.floor, rep.tlsFloor, rep.floorBodies, err = measureFloors(ctx, o, tmp, dm, logs); err != nil {
			return err
		}
	}

	if !o.noFlask {
		if err := ensureFlask(ctx, root); err != nil {
			rep.flaskSkipped = err.Error()
			log.Printf("Flask baseline skipped: %v", err)
		} else {
			log.Printf("starting the Flask baseline (gunicorn)")
			fl, err := startFlask(ctx, o, tmp, dm.cred, logs)
			if fl != nil {
				defer fl.stop()
			}
			if err != nil {
				return fmt.Errorf("flask: %w", err)
			}
			rep.flask, err = measure(ctx, o, fl.target)
			if err != nil {
				return fmt.Errorf("flask: %w", err)
			}
			if err := extras(ctx, o, rep.flask, fl.target, false); err != nil {
				return fmt.Errorf("flask: %w", err)
			}
			if o.settle > 0 {
				if err := settle(ctx, rep.flask, fl.target, o.settle); err != nil {
					return fmt.Errorf("flask: %w", err)
				}
			}
			fl.stop()
		}
	} else {
		rep.flaskSkipped = "-no-flask"
	}
	if o.settle > 0 {
		if err := settle(ctx, rep.devmgr, dm.target, o.settle); err != nil {
			return fmt.Errorf("devmgr: %w", err)
		}
	}
	dm.stop()
	md := rep.markdown()
	fmt.Print(md)
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// extras measures what the table of endpoints does not: the burst of
// logins (both), the runs with many connections and the cold start
// (devmgr: the targets are its own; Flask's 8 threads would only time out).
func extras(ctx context.Context, o options, r *result, t target, all bool) error {
	var err error
	if o.burst > 0 {
		log.Printf("%s: %d logins at once (load average %s)", t.name, o.burst, loadavg())
		if r.burst, err = burst(ctx, t, o.burst); err != nil {
			return err
		}
	}
	if !all {
		return nil
	}
	if err := longRuns(ctx, o, r, t); err != nil {
		return err
	}
	if o.cold > 0 && t.serve != nil {
		if r.cold, err = coldStart(ctx, t, o.cold); err != nil {
			return err
		}
	}
	// The last of these is the load's end: the settled memory is read a
	// while after it.
	r.loadEnd = time.Now()
	return nil
}

// longRuns runs, with o.long, /api/v1/me and / with o.longConn
// connections for o.long each (devmgr and the floor).
func longRuns(ctx context.Context, o options, r *result, t target) error {
	if o.long <= 0 {
		return nil
	}
	for _, p := range []string{"/api/v1/me", "/"} {
		log.Printf("%s: %s with %d connections for %s (load average %s)", t.name, p, o.longConn, o.long, loadavg())
		lr, err := long(ctx, t, p, o.longConn, o.long)
		if err != nil {
			return err
		}
		r.long = append(r.long, lr)
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	return nil
}
